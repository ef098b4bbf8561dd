#!/usr/bin/env bash
# Entrypoint of the Distillery images.
#   driver|executor ...   Spark on Kubernetes: hand over to Spark's own entrypoint.
#   spark-submit ...      spark-submit with the Java 17 flags (the shaded jar is in $SPARK_HOME/jars).
#                         GPUs are asked for, not assumed: a discovery script without
#                         spark.executor.resource.gpu.amount makes a cluster master refuse the job.
#   <command> ...         a Distillery command (train, prepare, distill, ...) in Spark local mode.
set -euo pipefail
HOME_DIR="${DISTILLERY_HOME:-/opt/distillery}"
opens=$(sed -n 's/^java17\.opens=//p' "$HOME_DIR/conf/java17.properties")
JAR="${SPARK_HOME:-/opt/spark}/jars/distillery.jar"
case "${1:-}" in
  driver|executor)
    exec /opt/entrypoint.sh "$@" ;;
  spark-submit)
    shift
    exec "${SPARK_HOME:-/opt/spark}/bin/spark-submit" \
      --conf "spark.driver.extraJavaOptions=$opens" --conf "spark.executor.extraJavaOptions=$opens" \
      --conf spark.executorEnv.OMP_NUM_THREADS=1 "$@" ;;
  ""|-h|--help)
    exec "$0" spark-submit --master 'local[*]' --class dev.distillery.jobs.Distillery "$JAR" --help ;;
  *)
    exec "$0" spark-submit --master "${DISTILLERY_MASTER:-local[*]}" --class dev.distillery.jobs.Distillery \
      "$JAR" "$@" ;;
esac
