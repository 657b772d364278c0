# Source this after setup (make setup) to use spark-submit directly:  source scripts/env.sh
NOTEWATT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$NOTEWATT_ROOT/.venv/bin/activate"
export PYSPARK_PYTHON="$NOTEWATT_ROOT/.venv/bin/python"
# conf/spark, plus the absolute path of its Ivy settings (Maven Central only), which Spark's launcher needs
export SPARK_CONF_DIR="$NOTEWATT_ROOT/.venv/spark-conf"
mkdir -p "$SPARK_CONF_DIR"
cp "$NOTEWATT_ROOT/conf/spark/log4j2.properties" "$SPARK_CONF_DIR/"
{ cat "$NOTEWATT_ROOT/conf/spark/spark-defaults.conf"
  echo "spark.jars.ivySettings           $NOTEWATT_ROOT/conf/spark/ivysettings.xml"; } > "$SPARK_CONF_DIR/spark-defaults.conf"
export HF_HUB_OFFLINE=1
export MLFLOW_DISABLE_TELEMETRY=true
