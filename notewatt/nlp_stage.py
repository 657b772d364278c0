"""Spark NLP in front of the model (the Spark 3.5 line, notewatt/spark_line.py), as a stage on the clean notes:

  your own pipeline    `preprocess.spark_nlp_pipeline`: a saved PipelineModel (de-identification, NER...) run on
                       the notes; the text of `preprocess.spark_nlp_output_column` (a string column, or the first
                       annotation's result) replaces the note's text, so the prompt and the output-cache key see it.
  sentences            `preprocess.engine: spark_nlp`: DocumentAssembler -> DocumentNormalizer (the HTML tags that
                       screening knows, udfs/html_text.py) -> SentenceDetector. The normalised text replaces the
                       note's, and `sentence_starts` (each sentence's first character) tells the prompt builder
                       where a section too long for the context may be cut (udfs/preprocess.py); the sections
                       themselves come from the same header rule as on the Python path (udfs/sections.py).

Both fail before any inference, with one line naming the setting, when they cannot run.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructType

from notewatt.config import ConfigError, PreprocessConfig
from notewatt.spark_line import current_line
from notewatt.stage_cost import StageCost, materialised
from udfs.html_text import HTML_TAG
from udfs.preprocess import SENTENCE_STARTS

SPARK_NLP = "spark_nlp"


def check_preprocess(preprocess: PreprocessConfig) -> None:
    """Before anything runs: the configured Spark NLP steps can run on this Spark line."""
    if preprocess.spark_nlp_pipeline:
        require_spark_nlp("preprocess.spark_nlp_pipeline")
    if preprocess.engine == SPARK_NLP:
        require_spark_nlp("preprocess.engine spark_nlp")


def run_preprocess(notes: DataFrame, preprocess: PreprocessConfig) -> tuple[DataFrame, StageCost | None]:
    """The notes after the configured Spark NLP steps, computed as a stage of its own with what it cost; the
    notes as they are, and no cost, on the Python path without a pipeline."""
    if not preprocess.spark_nlp_pipeline and preprocess.engine != SPARK_NLP:
        return notes, None
    return materialised(preprocessed(notes, preprocess), "preprocess")


def preprocessed(notes: DataFrame, preprocess: PreprocessConfig) -> DataFrame:
    """The notes after the configured Spark NLP steps (unchanged on the Python path without a pipeline)."""
    if preprocess.spark_nlp_pipeline:
        notes = with_pipeline_text(notes, preprocess.spark_nlp_pipeline, preprocess.spark_nlp_output_column)
    if preprocess.engine == SPARK_NLP:
        notes = with_sentences(notes)
    return notes


def require_spark_nlp(setting: str) -> None:
    """Spark NLP runs on the Spark 3.5 line only: its Spark 4 jar (spark-nlp_2.13 7.x) is not obtainable here."""
    if not current_line().has_spark_nlp:
        raise ConfigError(f"{setting} needs Spark NLP, which runs on the Spark 3.5 line: set up with "
                          "`make setup SPARK=3.5` (its Spark 4 jar, spark-nlp_2.13, is not served by this registry)")


def with_pipeline_text(notes: DataFrame, path: str, column: str) -> DataFrame:
    """The notes with their text taken from `column` of a saved PipelineModel's output."""
    require_spark_nlp("preprocess.spark_nlp_pipeline")
    from pyspark.ml import PipelineModel

    try:
        model = PipelineModel.load(path)
    except Exception as exc:
        raise ConfigError(f"preprocess.spark_nlp_pipeline {path!r} cannot be read as a saved PipelineModel: "
                          f"{type(exc).__name__}") from None
    out = model.transform(notes)
    if column not in out.columns:
        found = sorted(set(out.columns) - set(notes.columns))
        raise ConfigError(f"preprocess.spark_nlp_output_column {column!r} is not among the pipeline's output "
                          f"columns {found}")
    return out.withColumn("text", _text_of(out, column)).select(*notes.columns)


def _text_of(frame: DataFrame, column: str) -> F.Column:
    """A string column as it is; an annotation column's first result (a document-level annotator's text)."""
    kind = frame.schema[column].dataType
    if isinstance(kind, StringType):
        return F.col(column)
    if isinstance(kind, ArrayType) and isinstance(kind.elementType, StructType) and "result" in kind.elementType.names:
        return F.col(column).getItem(0).getField("result")
    raise ConfigError(f"preprocess.spark_nlp_output_column {column!r} is {kind.simpleString()}: it must be a string "
                      "or an annotation column")


def with_sentences(notes: DataFrame) -> DataFrame:
    """The notes with Spark NLP's normalised text and the start of each of its sentences (`sentence_starts`)."""
    require_spark_nlp("preprocess.engine spark_nlp")
    from pyspark.ml import Pipeline
    from sparknlp.annotator import DocumentNormalizer, SentenceDetector
    from sparknlp.base import DocumentAssembler

    stages = [
        DocumentAssembler().setInputCol("text").setOutputCol("_document").setCleanupMode("disabled"),
        DocumentNormalizer().setInputCols(["_document"]).setOutputCol("_normalized").setAction("clean")
        .setPatterns([HTML_TAG]).setReplacement(" ").setPolicy("all").setLowercase(False),
        SentenceDetector().setInputCols(["_normalized"]).setOutputCol("_sentences"),
    ]
    out = Pipeline(stages=stages).fit(notes).transform(notes)
    return out.select(
        *[c for c in notes.columns if c != "text"],
        F.col("_normalized").getItem(0).getField("result").alias("text"),
        F.col("_sentences.begin").alias(SENTENCE_STARTS),
    )
