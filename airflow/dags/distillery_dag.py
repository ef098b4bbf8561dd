"""Airflow DAG: prepare -> distill -> evaluate on Spark with SparkSubmitOperator.

Airflow Variables: distillery_jar (the shaded jobs jar, jobs/target/distillery.jar, which carries every
dependency Spark does not ship: e.g. hdfs:///apps/distillery.jar, or local:///opt/spark/jars/distillery.jar
in the Docker image), distillery_base_dir, distillery_corpus, distillery_heldout (the pairs
evaluate scores; never the training corpus), distillery_teacher and distillery_config. Connection:
spark_default. Nothing is read from disk when the scheduler parses this file.

A task that fails is retried: prepare replaces only its own previous output and distill resumes from
its checkpoints, so a retry continues the work instead of mixing runs. One run at a time
(max_active_runs=1): two runs would compete for the cluster, not share work.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

import distillery_tasks

JAR = "{{ var.value.distillery_jar }}"

with DAG(
    dag_id="distillery",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    max_active_runs=1,
    params={"loss": "kl"},
    tags=["distillation", "spark"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    # The same guard as distillery_tasks.task_args(sanitize=True), applied where the run id is rendered.
    user_defined_filters={"safe_run_id": distillery_tasks.safe_run_id},
) as dag:
    args = distillery_tasks.dag_task_args()
    previous = None
    for task_id, task in args.items():
        op = SparkSubmitOperator(
            task_id=task_id,
            name="distillery-" + task_id,
            conn_id="spark_default",
            application=JAR,
            java_class=task["java_class"],
            application_args=task["application_args"],
            conf=task["conf"],
        )
        if previous is not None:
            previous >> op
        previous = op
