"""Tests of the DAG's task arguments (Airflow cannot be installed here; Jinja is Debian's python3-jinja2).

Renders the DAG's own Jinja templates with real Jinja for hostile run ids, and each task's
spark-submit command for a sample run id, which it runs on the bundled sample as SparkSubmitOperator
would: the shaded jar (jobs/target/distillery.jar) submitted with the bin/spark-submit of a Spark home
that holds only Spark's own jars (bin/stock-spark-home).
Run: python3 airflow/tests/test_distillery_tasks.py  (after mvn package and bin/stock-spark-home)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "airflow", "dags"))

import distillery_tasks  # noqa: E402

TINY = os.path.join(REPO, "conf", "examples", "tiny.conf")
SAMPLE = os.path.join(REPO, "data", "sample", "es-en.tiny.jsonl")
HELDOUT = os.path.join(REPO, "data", "sample", "es-en.tiny-heldout.jsonl")


SHADED_JAR = os.path.join(REPO, "jobs", "target", "distillery.jar")
STOCK_SPARK_SUBMIT = os.path.join(REPO, "target", "stock-spark", "bin", "spark-submit")


class TaskArgsTest(unittest.TestCase):
    def args(self, run_id):
        return distillery_tasks.task_args(run_id, "/runs", "/data/c.jsonl", "/models/t", "/data/h.jsonl",
                                          config="c.conf")

    def test_outputs_are_under_the_run_id_so_reruns_are_idempotent(self):
        a = self.args("manual__2026-11-22T10:00:00+00:00")
        self.assertEqual(a, self.args("manual__2026-11-22T10:00:00+00:00"))
        b = self.args("scheduled__2026-11-23T10:00:00+00:00")
        self.assertNotEqual(a["prepare"]["application_args"], b["prepare"]["application_args"])
        out = a["prepare"]["application_args"][a["prepare"]["application_args"].index("--output") + 1]
        self.assertEqual("/runs/%s/targets" % distillery_tasks.safe_run_id("manual__2026-11-22T10:00:00+00:00"), out)
        self.assertTrue(out.startswith("/runs/manual__2026-11-22T10_00_00_00_00-"), out)
        self.assertIn("--overwrite", a["prepare"]["application_args"])
        self.assertIn("--resume", a["distill"]["application_args"])

    def test_tasks_run_in_order_and_chain_their_paths(self):
        a = self.args("r1")
        self.assertEqual(["prepare", "distill", "evaluate"], list(a))
        targets = a["prepare"]["application_args"][a["prepare"]["application_args"].index("--output") + 1]
        self.assertIn(targets, a["distill"]["application_args"])

    def test_java17_flags_come_from_the_one_properties_file(self):
        opens = distillery_tasks.read_java17_opens(os.path.join(REPO, distillery_tasks.JAVA17_PROPERTIES))
        self.assertIn("--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", opens)
        # The DAG carries them as a constant (no file read at parse time): it must be the file's line.
        self.assertEqual(opens, distillery_tasks.JAVA17_OPENS)

    def test_rejects_an_empty_run_id(self):
        with self.assertRaises(ValueError):
            distillery_tasks.task_args("", "/runs", "c", "t", "h")

    def test_evaluate_scores_the_held_out_corpus_and_never_the_training_one(self):
        a = self.args("r1")["evaluate"]["application_args"]
        self.assertEqual("/data/h.jsonl", a[a.index("--input") + 1])
        for heldout in [None, "", "/data/c.jsonl"]:
            with self.assertRaises(ValueError, msg=repr(heldout)):
                distillery_tasks.task_args("r1", "/runs", "/data/c.jsonl", "t", heldout)

    def test_safe_run_ids_are_distinct_path_components(self):
        self.assertEqual("r1", distillery_tasks.safe_run_id("r1"), "a plain run id stays as it is")
        ids = ["..", ".", "...", "a/b", "a_b", "a:b", "a+b", "../x", "ñandú", "日本", "manual__2026-11-22T10:00:00+00:00"]
        safe = [distillery_tasks.safe_run_id(r) for r in ids]
        self.assertEqual(len(set(safe)), len(safe), "distinct run ids, distinct directories: %r" % safe)
        for s in safe:
            self.assertRegex(s, r"^[A-Za-z0-9_.-]+$")
            self.assertNotEqual("", s.strip("."))
        self.assertEqual(distillery_tasks.safe_run_id("a/b"), distillery_tasks.safe_run_id("a/b"), "stable")
        with self.assertRaises(ValueError):
            distillery_tasks.safe_run_id("")

    def test_run_ids_cannot_escape_the_base_dir(self):
        for run_id in ["..", ".", "...", "../../etc", "a/../../b", "..\\x"]:
            args = distillery_tasks.task_args(run_id, "/runs", "c", "t", "h")["prepare"]["application_args"]
            out = args[args.index("--output") + 1]
            self.assertTrue(out.startswith("/runs/") and "/" not in out[len("/runs/"):-len("/targets")], out)
            self.assertEqual(os.path.normpath(out), out, "no '..' path component: " + out)


class DagTemplatesTest(unittest.TestCase):
    """The DAG's templates rendered the way Airflow renders them: a sandboxed Jinja environment with the
    DAG's user_defined_filters, and run_id, var.value and params in the context."""

    BASE = "hdfs:///distillery/runs/"
    HOSTILE = ["..", "../x", "a/b", "../../etc/passwd", "ñandú 日本", "x/../..", ".", "manual__2026-11-22T10:00:00+00:00"]

    def render(self, run_id):
        import jinja2
        import jinja2.sandbox
        env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
        env.filters["safe_run_id"] = distillery_tasks.safe_run_id
        context = {
            "run_id": run_id,
            "params": {"loss": "kl"},
            "var": {"value": {"distillery_base_dir": self.BASE, "distillery_corpus": "hdfs:///data/train.jsonl",
                              "distillery_teacher": "hdfs:///models/teacher", "distillery_heldout": "hdfs:///data/test.jsonl",
                              "distillery_config": "hdfs:///conf/run.conf"}},
        }
        rendered = {}
        for name, task in distillery_tasks.dag_task_args().items():
            rendered[name] = [env.from_string(a).render(**context) for a in task["application_args"]]
        return rendered

    def test_every_output_path_stays_under_the_runs_directory_for_hostile_run_ids(self):
        import posixpath
        base = self.BASE.rstrip("/")
        seen = set()
        for run_id in self.HOSTILE:
            run_dir = base + "/" + distillery_tasks.safe_run_id(run_id)
            self.assertNotIn(run_dir, seen, run_id)
            seen.add(run_dir)
            for name, args in self.render(run_id).items():
                for flag in ["--output", "--targets", "--model", "--report"]:
                    if flag in args:
                        path = args[args.index(flag) + 1]
                        scheme, rest = path.split("://", 1)
                        self.assertEqual("hdfs", scheme)
                        self.assertEqual(posixpath.normpath(rest), rest, "%s %s: %s" % (run_id, flag, path))
                        self.assertTrue(path.startswith(run_dir + "/"), "%s %s %s: %s" % (run_id, name, flag, path))

    def test_rendered_tasks_read_the_variables_and_chain_their_paths(self):
        r = self.render("manual__2026-12-03T05:00:00+00:00")
        self.assertEqual("hdfs:///data/test.jsonl", r["evaluate"][r["evaluate"].index("--input") + 1])
        self.assertEqual("hdfs:///data/train.jsonl", r["prepare"][r["prepare"].index("--input") + 1])
        self.assertEqual(r["prepare"][r["prepare"].index("--output") + 1], r["distill"][r["distill"].index("--targets") + 1])
        self.assertIn("distill.loss=kl", r["distill"])
        self.assertNotIn("{{", " ".join(sum(r.values(), [])))


class RenderedCommandsRunTest(unittest.TestCase):
    def test_rendered_spark_submit_commands_succeed_on_the_sample(self):
        for needed in (SHADED_JAR, STOCK_SPARK_SUBMIT):
            self.assertTrue(os.path.exists(needed), "missing %s (mvn package; bin/stock-spark-home)" % needed)
        jar, submit = SHADED_JAR, STOCK_SPARK_SUBMIT
        opens = distillery_tasks.read_java17_opens(os.path.join(REPO, distillery_tasks.JAVA17_PROPERTIES))
        with tempfile.TemporaryDirectory() as tmp:
            teacher = os.path.join(tmp, "teacher")
            train = [submit, "--master", "local[2]", "--conf", "spark.driver.extraJavaOptions=" + opens,
                     "--class", distillery_tasks.MAIN_CLASS, jar, "train",
                     "--config", TINY, "--input", SAMPLE, "--output", teacher, "--set", "train.epochs=1"]
            self.run_ok(train)
            tasks = distillery_tasks.task_args("manual__2026-11-22T10:00:00+00:00", tmp, SAMPLE, teacher, HELDOUT,
                                               config=TINY, java_opens=opens, loss="kl")
            for name, task in tasks.items():
                cmd = distillery_tasks.spark_submit_command(task, jar, "local[2]", spark_submit=submit)
                cmd += ["--set", "decode.max-new-tokens=8", "--set", "distill.eval-examples=5"]
                self.run_ok(cmd)
            root = os.path.join(tmp, distillery_tasks.safe_run_id("manual__2026-11-22T10:00:00+00:00"))
            with open(os.path.join(root, "targets", "_manifest.json")) as f:
                manifest = json.load(f)
            self.assertEqual(manifest["inputRows"], manifest["rows"] + sum(manifest["rejectedByReason"].values()))
            self.assertTrue(os.path.exists(os.path.join(root, "student-kl", "model", "model.zip")))
            with open(os.path.join(root, "evaluate.json")) as f:
                report = json.load(f)
            self.assertIn("bleu", report)
            self.assertIn("chrf", report)
            # A rerun of the same DAG run: prepare replaces, distill resumes; both succeed.
            cmd = distillery_tasks.spark_submit_command(tasks["prepare"], jar, "local[2]", spark_submit=submit)
            self.run_ok(cmd + ["--set", "decode.max-new-tokens=8"])

    def run_ok(self, cmd):
        print("running:", " ".join(cmd[:8]), "...", flush=True)
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            self.fail("exit %d: %s\n%s" % (p.returncode, " ".join(cmd), p.stdout[-3000:] + p.stderr[-3000:]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
