"""Airflow DAG: prepare -> distill -> evaluate on Spark with SparkSubmitOperator.

Airflow Variables: distillery_jar (the jobs jar), distillery_jars (its dependency jars, comma-separated,
as spark-submit --jars takes them), distillery_base_dir, distillery_corpus, distillery_heldout (the pairs
evaluate scores; never the training corpus), distillery_teacher, distillery_config, and
distillery_java_opens (the java17.opens= line of conf/java17.properties) when the scheduler has no
checkout at $DISTILLERY_HOME. Connection: spark_default.

A task that fails is retried: prepare replaces only its own previous output and distill resumes from
its checkpoints, so a retry continues the work instead of mixing runs.
"""
import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

import distillery_tasks

JAR = "{{ var.value.distillery_jar }}"
JARS = "{{ var.value.distillery_jars }}"
REPO = os.environ.get("DISTILLERY_HOME", "/opt/distillery")
PROPERTIES = os.path.join(REPO, distillery_tasks.JAVA17_PROPERTIES)
# Read at parse time only when the checkout is there: a scheduler without one still imports the DAG.
JAVA_OPENS = (distillery_tasks.read_java17_opens(PROPERTIES) if os.path.isfile(PROPERTIES)
              else "{{ var.value.distillery_java_opens }}")

with DAG(
    dag_id="distillery",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"loss": "kl"},
    tags=["distillation", "spark"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    # The same guard as distillery_tasks.task_args(sanitize=True), applied where the run id is rendered.
    user_defined_filters={"safe_run_id": distillery_tasks.safe_run_id},
) as dag:
    args = distillery_tasks.task_args(
        run_id="{{ run_id | safe_run_id }}",
        sanitize=False,
        base_dir="{{ var.value.distillery_base_dir }}",
        corpus="{{ var.value.distillery_corpus }}",
        teacher="{{ var.value.distillery_teacher }}",
        heldout="{{ var.value.distillery_heldout }}",
        config="{{ var.value.distillery_config }}",
        java_opens=JAVA_OPENS,
        loss="{{ params.loss }}",
    )
    previous = None
    for task_id, task in args.items():
        op = SparkSubmitOperator(
            task_id=task_id,
            name="distillery-" + task_id,
            conn_id="spark_default",
            application=JAR,
            jars=JARS,
            java_class=task["java_class"],
            application_args=task["application_args"],
            conf=task["conf"],
        )
        if previous is not None:
            previous >> op
        previous = op
