# Source this after setup (make setup) to use spark-submit directly:  source scripts/env.sh
NOTEWATT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$NOTEWATT_ROOT/.venv/bin/activate"
export PYSPARK_PYTHON="$NOTEWATT_ROOT/.venv/bin/python"
export SPARK_CONF_DIR="$NOTEWATT_ROOT/conf/spark"
export HF_HUB_OFFLINE=1
export MLFLOW_DISABLE_TELEMETRY=true
