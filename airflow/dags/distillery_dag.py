"""Airflow DAG: prepare -> distill -> evaluate on Spark with SparkSubmitOperator.

Variables (Airflow Variables or DAG params): distillery_jar, distillery_base_dir, distillery_corpus,
distillery_teacher, distillery_config. Connection: spark_default (or set conn_id below).
"""
import os
from datetime import datetime

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

import distillery_tasks

JAR = "{{ var.value.distillery_jar }}"
REPO = os.environ.get("DISTILLERY_HOME", "/opt/distillery")

with DAG(
    dag_id="distillery",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    params={"loss": "kl"},
    tags=["distillation", "spark"],
) as dag:
    args = distillery_tasks.task_args(
        run_id="{{ run_id | replace(':', '_') | replace('+', '_') }}",
        sanitize=False,
        base_dir="{{ var.value.distillery_base_dir }}",
        corpus="{{ var.value.distillery_corpus }}",
        teacher="{{ var.value.distillery_teacher }}",
        config="{{ var.value.distillery_config }}",
        java_opens=distillery_tasks.read_java17_opens(os.path.join(REPO, distillery_tasks.JAVA17_PROPERTIES)),
        loss="{{ params.loss }}",
    )
    previous = None
    for task_id, task in args.items():
        op = SparkSubmitOperator(
            task_id=task_id,
            conn_id="spark_default",
            application=JAR,
            java_class=task["java_class"],
            application_args=task["application_args"],
            conf=task["conf"],
        )
        if previous is not None:
            previous >> op
        previous = op
