# Source this after setup (make setup) to use spark-submit directly:  source scripts/env.sh
# The Spark 3.5 line's venv (make setup SPARK=3.5):  NOTEWATT_VENV=.venv-spark3.5 source scripts/env.sh
NOTEWATT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${NOTEWATT_VENV:-.venv}" in  # relative to the project, or absolute; NOTEWATT_VENV itself is left as given
  /*) NOTEWATT_VENV_DIR="$NOTEWATT_VENV" ;;
  *) NOTEWATT_VENV_DIR="$NOTEWATT_ROOT/${NOTEWATT_VENV:-.venv}" ;;
esac
source "$NOTEWATT_VENV_DIR/bin/activate"
export PYSPARK_PYTHON="$NOTEWATT_VENV_DIR/bin/python"
# conf/spark, plus the jars of this venv's Spark line and the absolute path of the Ivy settings (Maven Central
# only), which Spark's launcher needs
export SPARK_CONF_DIR="$NOTEWATT_VENV_DIR/spark-conf"
mkdir -p "$SPARK_CONF_DIR"
cp "$NOTEWATT_ROOT/conf/spark/log4j2.properties" "$SPARK_CONF_DIR/"
{ cat "$NOTEWATT_ROOT/conf/spark/spark-defaults.conf"
  (cd "$NOTEWATT_ROOT" && python -m notewatt.spark_line)
  echo "spark.jars.ivySettings           $NOTEWATT_ROOT/conf/spark/ivysettings.xml"; } > "$SPARK_CONF_DIR/spark-defaults.conf"
export HF_HUB_OFFLINE=1
export MLFLOW_DISABLE_TELEMETRY=true
