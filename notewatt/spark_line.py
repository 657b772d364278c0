"""The Spark line this environment runs, Spark 4 or Spark 3.5 LTS, and the jars each needs: Delta Lake's and, on
3.5, Spark NLP's (three of whose native runtimes Maven Central does not serve, so they are excluded). The
coordinates follow the installed Python packages (pyproject.toml's `spark4` / `spark35` extras pin them), so
they are written nowhere else: scripts/env.sh puts them into spark-submit's defaults (`python -m
notewatt.spark_line`), start_spark() into a session it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

SPARK_NLP_EXCLUDES = (  # native runtimes of deep-learning annotators; rule-based annotators run without them
    "com.johnsnowlabs.nlp:tensorflow-cpu_2.12",
    "com.johnsnowlabs.nlp:jsl-llamacpp-cpu_2.12",
    "com.johnsnowlabs.nlp:jsl-openvino-cpu_2.12",
)


@dataclass(frozen=True)
class SparkLine:
    name: str  # "4" or "3.5"
    packages: tuple[str, ...]  # spark.jars.packages
    excludes: tuple[str, ...] = ()  # spark.jars.excludes

    @property
    def has_spark_nlp(self) -> bool:
        return any(":spark-nlp_" in p for p in self.packages)

    def conf(self) -> dict[str, str]:
        return {"spark.jars.packages": ",".join(self.packages),
                **({"spark.jars.excludes": ",".join(self.excludes)} if self.excludes else {})}


def current_line() -> SparkLine:
    """The line of the installed pyspark, with the jars of the installed delta-spark (and spark-nlp)."""
    spark, delta = version("pyspark"), version("delta-spark")
    major, minor = spark.split(".")[:2]
    if major == "3":
        return SparkLine("3.5", (f"io.delta:delta-spark_2.12:{delta}",
                                 f"com.johnsnowlabs.nlp:spark-nlp_2.12:{_spark_nlp_version()}"), SPARK_NLP_EXCLUDES)
    return SparkLine(major, (f"io.delta:delta-spark_{major}.{minor}_2.13:{delta}",))


def _spark_nlp_version() -> str:
    try:
        return version("spark-nlp")
    except PackageNotFoundError:
        raise RuntimeError("the Spark 3.5 line needs spark-nlp: set up with `make setup SPARK=3.5`") from None


if __name__ == "__main__":  # spark-defaults.conf lines for scripts/env.sh
    for key, value in current_line().conf().items():
        print(f"{key:<32} {value}")
