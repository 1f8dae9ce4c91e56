#!/usr/bin/env python3
"""Reads a directory's TensorBoard event files with the `tensorboard` package's event
accumulator (the reader TensorBoard itself uses) and prints every scalar as JSON:
{"tag": [[step, value], ...], ...} in the order TensorBoard keeps them.

  tensorboard_read.py DIR
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator

acc = event_accumulator.EventAccumulator(sys.argv[1], size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)]
                  for tag in acc.Tags()["scalars"]}))
