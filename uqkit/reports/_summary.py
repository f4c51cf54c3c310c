"""The summary at the top of a report: what was run, the verdicts, the key findings."""

from __future__ import annotations

from ._document import Section

__all__ = ["summary_section"]

_RESULT_KINDS = ("sobol", "morris", "sensitivity", "pce", "validation", "posterior", "own",
                 "table", "evaluations")


def summary_section(sections: list[Section], runs: list[int | None]) -> Section:
    """A section that gathers the verdicts and findings of ``sections``.

    ``runs`` holds the model evaluations of each section's result (None: not a cost).
    """
    s = Section("Summary", "summary")
    ran = []
    for sec, n in zip(sections, runs):
        if sec.kind in _RESULT_KINDS:
            ran.append(sec.title + (f" ({n} model evaluations)" if n is not None else ""))
    if ran:
        s.blocks.append({"type": "list", "name": "What was run", "items": ran})
    for sec in sections:
        for b in sec.blocks:
            if b.get("type") == "verdict":
                s.verdict(b["ok"], f"{sec.title}: {b.get('short') or b['text']}")
    s.blocks.sort(key=lambda b: b.get("type") != "verdict")  # verdicts first
    findings = [b["text"] for sec in sections for b in sec.blocks if b.get("type") == "finding"]
    if findings:
        s.blocks.append({"type": "list", "name": "Key findings", "items": findings})
    return s
