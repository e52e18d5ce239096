#!/usr/bin/python3
"""PyTorch CPU peer for the xai3d training-step benchmark (runs only where torch is installed).

Same network and step as bench/conv3d.ts: conv16-pool-conv32-pool-conv64-GAP-dense10 (3x3x3, 'same', ReLU,
max pooling 2), Adam, softmax cross-entropy, a batch of 32 volumes of 32^3; same thread count.
Arguments: threads (2), timed steps (5), warm-up steps (2).
Prints one JSON line: {"msPerStep" (median), "samplesMs", "forwardMs", "threads", "torch"}.
"""
import json
import statistics
import sys
import time

import torch
from torch import nn

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv3d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
    nn.Conv3d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
    nn.Conv3d(32, 64, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(64, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.rand(32, 1, 32, 32, 32)
y = torch.randint(0, 10, (32,))
loss_fn = nn.CrossEntropyLoss()


def step():
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


for _ in range(warmup):
    step()
samples = []
for _ in range(reps):
    t0 = time.perf_counter()
    step()
    samples.append((time.perf_counter() - t0) * 1000)
with torch.no_grad():
    model(x)
    t0 = time.perf_counter()
    model(x)
    fwd = (time.perf_counter() - t0) * 1000
print(json.dumps({"msPerStep": statistics.median(samples), "samplesMs": samples, "forwardMs": fwd, "threads": threads, "torch": torch.__version__}))
