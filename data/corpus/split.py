#!/usr/bin/env python3
"""Splits the Spanish->English verse corpus into train, dev and test by whole books.

Usage: python3 data/corpus/split.py ../shared/corpora/es-en.jsonl data/corpus
Writes es-en.{train,dev,test}.jsonl.gz (gzip with mtime 0, so reruns are byte-identical).
"""
import gzip
import json
import sys

DEV = ["Galatians", "Ruth", "Jonah"]
TEST = ["Ecclesiastes", "Hebrews", "I Peter", "Micah"]


def book(verse_id):
    return verse_id.rsplit(" ", 1)[0]


def main(source, out_dir):
    splits = {"train": [], "dev": [], "test": []}
    with open(source, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            b = book(row["id"])
            splits["dev" if b in DEV else "test" if b in TEST else "train"].append(line)
    for name, lines in splits.items():
        path = f"{out_dir}/es-en.{name}.jsonl.gz"
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write("".join(lines).encode("utf-8"))
        print(f"{path}: {len(lines)} verses")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
