"""Task arguments for the Distillery DAG, in plain Python (no Airflow import).

The DAG (distillery_dag.py) turns these into SparkSubmitOperator tasks; tests render them into
spark-submit command lines and run them, so what Airflow submits is exactly what was tested.

Every output path contains the run id, so a rerun of the same DAG run writes to the same places
(prepare replaces its output whole; distill resumes from its checkpoints) and never mixes two runs.
"""

MAIN_CLASS = "dev.distillery.jobs.Distillery"

# The JVM flags Spark needs on Java 17 live in conf/java17.properties; the DAG passes them through.
JAVA17_PROPERTIES = "conf/java17.properties"


def read_java17_opens(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("java17.opens="):
                return line[len("java17.opens="):].strip()
    raise ValueError("Cannot read Java 17 flags: no java17.opens= line: %s" % path)


def safe_run_id(run_id):
    """The run id as a path component: characters other than [A-Za-z0-9_.-] become '_'.

    The DAG registers this as the Jinja filter safe_run_id, so the rendered paths get the same guard.
    """
    safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in run_id)
    if not safe:
        raise ValueError("Cannot build task arguments: empty run id: %r" % run_id)
    # '/' never survives sanitizing, but '.' and '..' would still name base_dir itself or its parent.
    if safe.strip(".") == "":
        raise ValueError("Cannot build task arguments: run id would escape base_dir: %r" % run_id)
    return safe


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
    root = "%s/%s" % (base_dir.rstrip("/"), safe)
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
