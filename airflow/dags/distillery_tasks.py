"""Task arguments for the Distillery DAG, in plain Python (no Airflow import).

The DAG (distillery_dag.py) turns these into SparkSubmitOperator tasks; tests render them into
spark-submit command lines and run them, so what Airflow submits is exactly what was tested.

Every output path contains the run id, so a rerun of the same DAG run writes to the same places
(prepare replaces its output whole; distill resumes from its checkpoints) and never mixes two runs.
"""

import hashlib
import string

MAIN_CLASS = "dev.distillery.jobs.Distillery"

# The JVM flags Spark needs on Java 17 live in conf/java17.properties; the DAG passes them through.
JAVA17_PROPERTIES = "conf/java17.properties"

# The same flags as a constant, so the DAG reads no file when the scheduler parses it (a test checks that
# they equal conf/java17.properties).
JAVA17_OPENS = (
    "--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED "
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED "
    "--add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED "
    "--add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED "
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED "
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED "
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED "
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED -Djdk.reflect.useDirectMethodHandle=false")

# What the DAG passes to task_args: Airflow renders these Jinja templates when a task runs, with
# safe_run_id registered as a filter (a test renders them with real Jinja for hostile run ids).
DAG_TEMPLATES = {
    "run_id": "{{ run_id | safe_run_id }}",
    "base_dir": "{{ var.value.distillery_base_dir.rstrip('/') }}",
    "corpus": "{{ var.value.distillery_corpus }}",
    "teacher": "{{ var.value.distillery_teacher }}",
    "heldout": "{{ var.value.distillery_heldout }}",
    "config": "{{ var.value.distillery_config }}",
    "loss": "{{ params.loss }}",
}

_SAFE = set(string.ascii_letters + string.digits + "_.-")


def read_java17_opens(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("java17.opens="):
                return line[len("java17.opens="):].strip()
    raise ValueError("Cannot read Java 17 flags: no java17.opens= line: %s" % path)


def safe_run_id(run_id):
    """The run id as one path component, distinct for distinct run ids, whatever Airflow allows in them.

    A run id of ASCII letters, digits, '_', '.' and '-' that is not all dots stays as it is. Any other
    (':' and '+' of a timestamp, '/', '..', unicode) has those characters replaced by '_' and 8 hex
    digits of its sha256 appended, so no two run ids share a directory and none names base_dir's
    parent. The DAG registers this as the Jinja filter safe_run_id.
    """
    if not run_id:
        raise ValueError("Cannot build task arguments: empty run id: %r" % run_id)
    if all(c in _SAFE for c in run_id) and run_id.strip(".") != "":
        return run_id
    cleaned = "".join(c if c in _SAFE else "_" for c in run_id).replace(".", "_")
    return "%s-%s" % (cleaned, hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8])


def dag_task_args():
    """The task arguments of distillery_dag.py: templates, rendered by Airflow when each task runs."""
    return task_args(sanitize=False, java_opens=JAVA17_OPENS, **DAG_TEMPLATES)


def task_args(run_id, base_dir, corpus, teacher, heldout, config=None, java_opens="", loss="kl",
              sanitize=True):
    """Arguments of the prepare -> distill -> evaluate tasks for one DAG run.

    run_id: the Airflow run id, made safe with safe_run_id (the DAG passes a template that applies
      the same filter at render time, with sanitize=False).
    base_dir: where runs live (HDFS, S3 or a local path); outputs go to base_dir/<run_id>/...
    heldout: the pairs evaluate scores the student on; never the training corpus.
    Returns {task_id: {"java_class", "application_args", "conf"}} in execution order.
    """
    safe = safe_run_id(run_id) if sanitize else run_id
    if not heldout:
        raise ValueError("Cannot build task arguments: no held-out corpus for evaluate (it would score the "
                         "student on its own training data)")
    if sanitize and heldout == corpus:
        raise ValueError("Cannot build task arguments: the held-out corpus is the training corpus: %r" % corpus)
    root = "%s/%s" % (base_dir.rstrip("/") if sanitize else base_dir, safe)
    targets, student = root + "/targets", root + "/student-" + loss
    common = ["--config", config] if config else []
    conf = {
        "spark.driver.extraJavaOptions": java_opens,
        "spark.executor.extraJavaOptions": java_opens,
        "spark.executorEnv.OMP_NUM_THREADS": "1",
    }
    return {
        "prepare": {
            "java_class": MAIN_CLASS,
            "application_args": ["prepare", *common, "--input", corpus, "--teacher", teacher,
                                 "--output", targets, "--overwrite"],
            "conf": conf,
        },
        "distill": {
            "java_class": MAIN_CLASS,
            "application_args": ["distill", *common, "--targets", targets, "--output", student,
                                 "--set", "distill.loss=" + loss, "--resume"],
            "conf": conf,
        },
        "evaluate": {
            "java_class": MAIN_CLASS,
            "application_args": ["evaluate", *common, "--model", student + "/model",
                                 "--input", heldout, "--report", root + "/evaluate.json"],
            "conf": conf,
        },
    }


def spark_submit_command(task, application, master, spark_submit="spark-submit"):
    """The spark-submit command line SparkSubmitOperator runs for one task."""
    cmd = [spark_submit, "--master", master]
    for key, value in task["conf"].items():
        cmd += ["--conf", "%s=%s" % (key, value)]
    cmd += ["--class", task["java_class"], application]
    return cmd + list(task["application_args"])
