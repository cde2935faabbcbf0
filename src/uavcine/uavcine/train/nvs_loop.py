"""The training loop the three novel-view synthesis stages share (nvs_train.py: VQ tokenizer and GeoGPT;
nvs_refine.py: the refiner): resumable, a wall-clock budget with a cosine learning rate over it, a tqdm bar in
seconds, a checkpoint every two minutes and at the end. Each stage keeps its own step, evaluation and best-model
rule; this is only what was the same in all three.
Offline tool (Python 3.10+).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm import tqdm

SAVE_EVERY_S = 120.0


def save(path: Path, **state):
    """A checkpoint written whole or not at all (a killed run leaves the previous one)."""
    tmp = path.with_suffix('.tmp')
    torch.save(state, tmp)
    tmp.replace(path)


def lr_at(frac: float, base: float) -> float:
    """Linear warm-up over the first 2 % of the time budget, then cosine to 5 % of ``base``."""
    if frac < 0.02:
        return base * frac / 0.02
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def resumed(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict, resume: bool) -> dict:
    """With ``resume`` and a checkpoint at ``path``: its model and optimiser loaded, its state returned; else
    ``state`` (a fresh run)."""
    if not (resume and path.exists()):
        return state
    s = torch.load(path, map_location='cpu', weights_only=False)
    model.load_state_dict(s['model'])
    opt.load_state_dict(s['opt'])
    return s['state']


def budget_steps(state: dict, opt: torch.optim.Optimizer, base_lr: float, max_minutes: float, eval_minutes: float,
                 desc: str, checkpoint: Callable[[], None]) -> Iterator[tuple]:
    """One item per training step until ``max_minutes`` of wall clock (counting the minutes of the run resumed,
    ``state['minutes']``) have passed: ``(elapsed_minutes, eval_due, bar)``. Before each step it sets the learning
    rate (``lr_at``) and counts the step in ``state['step']``; ``eval_due`` is true on the first step and then once
    every ``eval_minutes``. After each step it moves the bar and, every two minutes and at the end, writes
    ``state['minutes']`` and calls ``checkpoint``."""
    t0, last_eval, last_save = time.time() - 60 * state['minutes'], -1.0, time.time()
    bar = tqdm(total=int(max_minutes * 60), unit='s', desc=desc, initial=int(60 * state['minutes']))
    while True:
        el = (time.time() - t0) / 60
        if el >= max_minutes:
            break
        for g in opt.param_groups:
            g['lr'] = lr_at(el / max_minutes, base_lr)
        state['step'] += 1
        due = el - last_eval >= eval_minutes or state['step'] == 1
        if due:
            last_eval = el
        yield el, due, bar
        bar.n = int(60 * el)
        bar.refresh()
        if time.time() - last_save > SAVE_EVERY_S:
            state['minutes'] = el
            checkpoint()
            last_save = time.time()
    state['minutes'] = (time.time() - t0) / 60
    checkpoint()
    bar.close()
