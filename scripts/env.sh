# Source this after setup (make setup) to use spark-submit directly:  source scripts/env.sh
# The Spark 3.5 line's venv (make setup SPARK=3.5):  NOTEWATT_VENV=.venv-spark3.5 source scripts/env.sh
NOTEWATT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NOTEWATT_VENV="$NOTEWATT_ROOT/${NOTEWATT_VENV:-.venv}"
source "$NOTEWATT_VENV/bin/activate"
export PYSPARK_PYTHON="$NOTEWATT_VENV/bin/python"
# conf/spark, plus the jars of this venv's Spark line and the absolute path of the Ivy settings (Maven Central
# only), which Spark's launcher needs
export SPARK_CONF_DIR="$NOTEWATT_VENV/spark-conf"
mkdir -p "$SPARK_CONF_DIR"
cp "$NOTEWATT_ROOT/conf/spark/log4j2.properties" "$SPARK_CONF_DIR/"
{ cat "$NOTEWATT_ROOT/conf/spark/spark-defaults.conf"
  (cd "$NOTEWATT_ROOT" && python -m notewatt.spark_line)
  echo "spark.jars.ivySettings           $NOTEWATT_ROOT/conf/spark/ivysettings.xml"; } > "$SPARK_CONF_DIR/spark-defaults.conf"
export HF_HUB_OFFLINE=1
export MLFLOW_DISABLE_TELEMETRY=true
