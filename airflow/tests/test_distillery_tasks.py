"""Tests of the DAG's task arguments, standard library only (Airflow cannot be installed here).

Renders each task's spark-submit command for a sample run id and runs it against the real jobs jar
on the bundled sample, through Spark's own SparkSubmit (bin/spark-submit-local).
Run: python3 airflow/tests/test_distillery_tasks.py  (after mvn package)
"""
import glob
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


def jobs_jar():
    jars = [j for j in glob.glob(os.path.join(REPO, "jobs", "target", "distillery-jobs-*.jar"))]
    if not jars:
        raise unittest.SkipTest("jobs jar not built (run mvn package first)")
    return jars[0]


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
        self.assertEqual("/runs/manual__2026-11-22T10_00_00_00_00/targets", out)
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

    def test_rejects_an_empty_run_id(self):
        with self.assertRaises(ValueError):
            distillery_tasks.task_args("", "/runs", "c", "t", "h")

    def test_evaluate_scores_the_held_out_corpus_and_never_the_training_one(self):
        a = self.args("r1")["evaluate"]["application_args"]
        self.assertEqual("/data/h.jsonl", a[a.index("--input") + 1])
        for heldout in [None, "", "/data/c.jsonl"]:
            with self.assertRaises(ValueError, msg=repr(heldout)):
                distillery_tasks.task_args("r1", "/runs", "/data/c.jsonl", "t", heldout)

    def test_the_dags_jinja_filter_is_the_same_guard(self):
        self.assertEqual("manual__2026-11-22T10_00_00_00_00", distillery_tasks.safe_run_id("manual__2026-11-22T10:00:00+00:00"))
        for run_id in ["..", ".", ""]:
            with self.assertRaises(ValueError, msg=run_id):
                distillery_tasks.safe_run_id(run_id)

    def test_run_ids_cannot_escape_the_base_dir(self):
        for run_id in ["..", ".", "..."]:
            with self.assertRaises(ValueError, msg=run_id):
                distillery_tasks.task_args(run_id, "/runs", "c", "t", "h")
        for run_id in ["../../etc", "a/../../b", "..\\x"]:
            args = distillery_tasks.task_args(run_id, "/runs", "c", "t", "h")["prepare"]["application_args"]
            out = args[args.index("--output") + 1]
            self.assertTrue(out.startswith("/runs/") and "/" not in out[len("/runs/"):-len("/targets")], out)
            self.assertEqual(os.path.normpath(out), out, "no '..' path component: " + out)


class RenderedCommandsRunTest(unittest.TestCase):
    def test_rendered_spark_submit_commands_succeed_on_the_sample(self):
        jar = jobs_jar()
        submit = os.path.join(REPO, "bin", "spark-submit-local")
        opens = distillery_tasks.read_java17_opens(os.path.join(REPO, distillery_tasks.JAVA17_PROPERTIES))
        with tempfile.TemporaryDirectory() as tmp:
            teacher = os.path.join(tmp, "teacher")
            train = [submit, "--master", "local[2]", "--class", distillery_tasks.MAIN_CLASS, jar, "train",
                     "--config", TINY, "--input", SAMPLE, "--output", teacher, "--set", "train.epochs=1"]
            self.run_ok(train)
            tasks = distillery_tasks.task_args("manual__2026-11-22T10:00:00+00:00", tmp, SAMPLE, teacher, HELDOUT,
                                               config=TINY, java_opens=opens, loss="kl")
            for name, task in tasks.items():
                cmd = distillery_tasks.spark_submit_command(task, jar, "local[2]", spark_submit=submit)
                cmd += ["--set", "decode.max-new-tokens=8", "--set", "distill.eval-examples=5"]
                self.run_ok(cmd)
            root = os.path.join(tmp, "manual__2026-11-22T10_00_00_00_00")
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
