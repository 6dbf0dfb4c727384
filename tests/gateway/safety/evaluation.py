"""Recall and false-positive rate of the shipped safety policy on the labelled evaluation set.

`eval_set.jsonl`: one JSON object per line — `id`, `label` (`malicious` | `benign`), `lang`
(`en` | `zh`), `category`, `split`, `text`. Each text is sent as the user message of a chat
request through the input stage built from `policies/safety.yaml`; a malicious text counts
as caught when the stage refuses it, a benign one as a false positive when it does.

Splits, in the order they were written:
- `dev`: what the rules' weights and the threshold were tuned on (includes two sets first
  written as held-out and used for tuning after they were scored, ids `*-dev2-*`, `*-dev3-*`);
- `test`: held out from tuning; its errors were looked at once and led to two generic fixes;
- `holdout`: written after the rules were frozen and never tuned on: the honest number.

`python -m tests.gateway.safety.evaluation` prints the table the README quotes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from gateway.openai.request_view import parse_request
from gateway.safety.base import GuardDeps
from gateway.safety.loader import initial_safety
from gateway.safety.registry import builtin_guards
from gateway.safety.runtime import build_safety_runtime
from gateway.safety.screening import PolicyInputGuard
from gateway.types import RequestKind

EVAL_SET = Path(__file__).with_name("eval_set.jsonl")
SHIPPED_POLICY = Path(__file__).parents[3] / "policies" / "safety.yaml"
MODEL = "Qwen/Qwen2.5-7B-Instruct"


@dataclass(frozen=True)
class Item:
    id: str
    label: str
    lang: str
    category: str
    split: str
    text: str


@dataclass(frozen=True)
class Rates:
    malicious: int
    caught: int
    benign: int
    false_positives: int

    @property
    def recall(self) -> float:
        return self.caught / self.malicious if self.malicious else float("nan")

    @property
    def fpr(self) -> float:
        return self.false_positives / self.benign if self.benign else float("nan")


def load_items(path: Path = EVAL_SET) -> list[Item]:
    with path.open(encoding="utf-8") as lines:
        return [Item(**json.loads(line)) for line in lines if line.strip()]


def shipped_guard() -> PolicyInputGuard:
    policy, _ = initial_safety(SHIPPED_POLICY)
    runtime = build_safety_runtime(policy, builtin_guards(), GuardDeps())
    return PolicyInputGuard(lambda: runtime)


async def refused(guard: PolicyInputGuard, items: Sequence[Item]) -> dict[str, bool]:
    """Item id → whether the input stage refused it."""
    outcome: dict[str, bool] = {}
    for item in items:
        body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": item.text}]})
        request = parse_request(RequestKind.CHAT, body, request_id=uuid.uuid4().hex)
        decision = await guard.check(request)
        outcome[item.id] = decision.refusal is not None
    return outcome


def rates(items: Iterable[Item], outcome: dict[str, bool]) -> Rates:
    chosen = list(items)
    malicious = [item for item in chosen if item.label == "malicious"]
    benign = [item for item in chosen if item.label == "benign"]
    return Rates(
        malicious=len(malicious),
        caught=sum(outcome[item.id] for item in malicious),
        benign=len(benign),
        false_positives=sum(outcome[item.id] for item in benign),
    )


def report(items: Sequence[Item], outcome: dict[str, bool]) -> str:
    rows = [
        "| slice | malicious | recall | benign | false-positive rate |",
        "|---|---:|---:|---:|---:|",
    ]
    slices: list[tuple[str, list[Item]]] = [("all", list(items))]
    slices += [
        (split, [i for i in items if i.split == split]) for split in ("dev", "test", "holdout")
    ]
    slices += [(f"lang={lang}", [i for i in items if i.lang == lang]) for lang in ("en", "zh")]
    for name, chosen in slices:
        r = rates(chosen, outcome)
        rows.append(
            f"| {name} | {r.malicious} | {r.recall:.1%} ({r.caught}) | {r.benign} "
            f"| {r.fpr:.1%} ({r.false_positives}) |"
        )
    return "\n".join(rows)


def main() -> None:
    items = load_items()
    outcome = asyncio.run(refused(shipped_guard(), items))
    print(report(items, outcome))
    for item in items:
        if outcome[item.id] != (item.label == "malicious"):
            kind = "missed" if item.label == "malicious" else "false positive"
            print(f"{kind:14s} {item.id}: {item.text[:90]!r}")


if __name__ == "__main__":
    main()
