"""Clinical quality of abstractions: lenient per-field matching against gold labels (or a reference run).

Pure Python (no Spark). List fields are compared as multisets of normalised items, so a repeated item counts
once per occurrence; medications match on their normalised name, and `medications_with_dose` also requires
the dose to agree; an allergen matches with its reaction given in brackets ("sulfa (hives)" is "sulfa"). `smoking_status` is one value compared exactly after basic normalisation. Nothing here logs
or raises with note text (notes are PHI); note ids are fine.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from udfs.abstraction import OK, TRUNCATED

log = logging.getLogger("notewatt.scoring")

LIST_FIELDS = ("problems", "medications", "procedures", "allergies")
OVERALL_FIELDS = (*LIST_FIELDS, "smoking_status")  # the fields f1_overall is micro-averaged over
DOSE_FIELD = "medications_with_dose"  # medication name and dose both agree; reported, not in f1_overall
FIELDS = (*OVERALL_FIELDS, DOSE_FIELD)
GOLD_MODE = "gold"

# Variant -> canonical spelling, for items of every list field. Keys and values are written naturally and
# normalised at import (case, punctuation and spacing do not matter). A key is replaced wherever it stands as
# whole words inside an item, longest key first ("ckd stage 3" -> "chronic kidney disease stage 3"); canonical
# values are kept as they are, so normalising twice changes nothing. Items that end up "none" are dropped.
SYNONYMS: dict[str, str] = {
    # problems
    "htn": "hypertension",
    "high blood pressure": "hypertension",
    "dm": "diabetes mellitus",
    "dm2": "type 2 diabetes mellitus",
    "t2dm": "type 2 diabetes mellitus",
    "type 2 diabetes": "type 2 diabetes mellitus",
    "type ii diabetes": "type 2 diabetes mellitus",
    "type ii diabetes mellitus": "type 2 diabetes mellitus",
    "diabetes mellitus type 2": "type 2 diabetes mellitus",
    "diabetes type 2": "type 2 diabetes mellitus",
    "copd": "chronic obstructive pulmonary disease",
    "chf": "heart failure",
    "congestive heart failure": "heart failure",
    "hfref": "heart failure with reduced ejection fraction",
    "gerd": "gastroesophageal reflux disease",
    "gord": "gastroesophageal reflux disease",
    "mi": "myocardial infarction",
    "nstemi": "non st elevation myocardial infarction",
    "stemi": "st elevation myocardial infarction",
    "afib": "atrial fibrillation",
    "a fib": "atrial fibrillation",
    "cad": "coronary artery disease",
    "ckd": "chronic kidney disease",
    "hld": "hyperlipidemia",
    "osa": "obstructive sleep apnea",
    "mdd": "major depressive disorder",
    "uti": "urinary tract infection",
    "dvt": "deep vein thrombosis",
    # procedures
    "cabg": "coronary artery bypass graft",
    "coronary artery bypass grafting": "coronary artery bypass graft",
    "ecg": "electrocardiogram",
    "ekg": "electrocardiogram",
    "egd": "esophagogastroduodenoscopy",
    "pci": "percutaneous coronary intervention",
    "echo": "echocardiogram",
    "cxr": "chest x-ray",
    "chest radiograph": "chest x-ray",
    "xray": "x-ray",
    "tka": "total knee arthroplasty",
    "tha": "total hip arthroplasty",
    "lap chole": "laparoscopic cholecystectomy",
    "computed tomography": "CT",
    "magnetic resonance imaging": "MRI",
    # medications
    "asa": "aspirin",
    "apap": "acetaminophen",
    "paracetamol": "acetaminophen",
    "hctz": "hydrochlorothiazide",
    "ntg": "nitroglycerin",
    # allergies
    "nkda": "none",
    "nka": "none",
    "no known allergies": "none",
    "no known drug allergies": "none",
    "no allergies": "none",
    "none known": "none",
    "pcn": "penicillin",
    "sulfa drugs": "sulfa",
    "sulfonamides": "sulfa",
    "iv contrast": "iodinated contrast",
    "contrast dye": "iodinated contrast",
    # any list field: an explicit "nothing"
    "n/a": "none",
    "not applicable": "none",
}
_EMPTY = "none"

# A dose written into a medication's name ("metformin 500 mg bid"): cut from the number on.
_DOSE_IN_NAME = re.compile(r"\s*\d[\d.,/]*\s*(?:mg|mcg|µg|ug|g|ml|l|units?|iu|meq|%)(?![a-z]).*$")
_NON_WORD = re.compile(r"[\W_]+")
# A reaction written beside an allergen in brackets ("sulfa (hives)", "penicillin [rash]"): left out.
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def _clean(text: str) -> str:
    """Case-folded words of `text`: apostrophes dropped, other punctuation as spaces, spacing collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("\u2019", "")
    return " ".join(_NON_WORD.sub(" ", folded).split())


_TABLE = {_clean(k): _clean(v) for k, v in SYNONYMS.items()}
_TABLE.update({v: v for v in _TABLE.values()})  # canonical forms stand as they are (longest match wins)
_PATTERN = re.compile(
    r"(?<!\S)(?:" + "|".join(re.escape(k) for k in sorted(_TABLE, key=len, reverse=True)) + r")(?!\S)"
)


def normalise(item: str) -> str:
    """Lenient form of a list item: `_clean`, then `SYNONYMS` applied on whole words."""
    return _PATTERN.sub(lambda m: _TABLE[m.group(0)], _clean(item))


def _medication_name(name: str) -> str:
    return normalise(_DOSE_IN_NAME.sub("", unicodedata.normalize("NFKC", name).casefold()))


def _dose(dose: str) -> str:
    """Dose compared without case or any spacing ("75mcg daily" == "75 MCG daily")."""
    return "".join(unicodedata.normalize("NFKC", dose).casefold().split()).strip(".,;")


@dataclass(frozen=True)
class FieldScore:
    tp: int
    fp: int
    fn: int

    def __add__(self, other: FieldScore) -> FieldScore:
        return FieldScore(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        """tp / (tp + fp); with nothing predicted, 1.0 if nothing was missed either, else 0.0."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float(self.fn == 0)

    @property
    def recall(self) -> float:
        """tp / (tp + fn); with nothing to find, 1.0 if nothing extra was predicted either, else 0.0."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float(self.fp == 0)

    @property
    def f1(self) -> float:
        """2tp / (2tp + fp + fn); 1.0 when both sides are empty."""
        wrong = self.fp + self.fn
        return 2 * self.tp / (2 * self.tp + wrong) if self.tp or wrong else 1.0


_NOTHING = FieldScore(0, 0, 0)


_SKIP = ("", _EMPTY)


def _list_items(value: object, item_key=normalise) -> Counter:
    strings = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    return Counter(k for k in map(item_key, strings) if k not in _SKIP)


def _allergen(item: str) -> str:
    return normalise(_BRACKETED.sub(" ", item))


def _medications(value: object) -> list[tuple[str, str]]:
    items = value if isinstance(value, list) else []
    named = [m for m in items if isinstance(m, dict) and isinstance(m.get("name"), str)]
    pairs = [(_medication_name(m["name"]), _dose(m.get("dose") or "")) for m in named]
    return [(name, dose) for name, dose in pairs if name not in _SKIP]


def _keys(abstraction: Mapping) -> dict[str, Counter]:
    """Each field's items as a multiset of comparable keys (empty items and explicit "none" left out)."""
    keys = {f: _list_items(abstraction.get(f)) for f in ("problems", "procedures")}
    keys["allergies"] = _list_items(abstraction.get("allergies"), _allergen)
    medications = _medications(abstraction.get("medications"))
    keys["medications"] = Counter(name for name, _ in medications)
    keys[DOSE_FIELD] = Counter(medications)
    smoking = abstraction.get("smoking_status")
    value = _clean(smoking) if isinstance(smoking, str) else ""
    keys["smoking_status"] = Counter([value] if value else [])
    return keys


def _match(predicted: Counter, gold: Counter) -> FieldScore:
    tp = sum((predicted & gold).values())
    return FieldScore(tp, sum(predicted.values()) - tp, sum(gold.values()) - tp)


def score_note(predicted: Mapping | None, gold: Mapping) -> dict[str, FieldScore]:
    """Per-field tp/fp/fn of one note; a None prediction (unparseable output) misses every gold item."""
    reference = _keys(gold)
    if predicted is None:
        return {f: _match(Counter(), reference[f]) for f in FIELDS}
    prediction = _keys(predicted)
    return {f: _match(prediction[f], reference[f]) for f in FIELDS}


def summarise(note_scores: Iterable[Mapping[str, FieldScore]]) -> dict[str, float]:
    """MLflow-ready metrics: `precision.<field>`, `recall.<field>`, `f1.<field>` (micro over notes),
    `precision_overall`/`recall_overall`/`f1_overall` (micro over OVERALL_FIELDS), `correct_items` (their true
    positives) and `notes_scored`. With no note scored, the precision/recall/F1 metrics are left out rather than
    reported as vacuously perfect."""
    totals = dict.fromkeys(FIELDS, _NOTHING)
    scored = 0
    for note in note_scores:
        scored += 1
        totals = {f: totals[f] + note[f] for f in FIELDS}
    metrics = {"notes_scored": float(scored)}
    if not scored:
        return metrics
    overall = sum((totals[f] for f in OVERALL_FIELDS), _NOTHING)
    metrics["correct_items"] = float(overall.tp)
    for name, score in {**{f".{f}": totals[f] for f in FIELDS}, "_overall": overall}.items():
        metrics.update({f"precision{name}": score.precision, f"recall{name}": score.recall, f"f1{name}": score.f1})
    return metrics


Note = tuple[str, str, str | None]  # (note_id, status, abstraction JSON or raw output)


@dataclass(frozen=True)
class NoteResult:
    note_id: str
    status: str
    parsed: bool  # False: the output was not scored as a prediction (every reference item counts as missed)
    fields: dict[str, FieldScore]


@dataclass(frozen=True)
class ScoredNotes:
    """The notes that have a reference, scored field by field (the driver's RunQuality builds on this)."""

    mode: str  # "gold" or "reference:<run_id>"
    notes: tuple[NoteResult, ...]
    without_gold: tuple[str, ...]  # given notes absent from the reference: not scored
    gold_not_in_run: tuple[str, ...]  # reference notes that were not given

    def metrics(self, note_ids: set[str] | None = None) -> dict[str, float]:
        """summarise() over the scored notes (those in `note_ids` only, when given: a route's)."""
        return summarise(n.fields for n in self.notes if note_ids is None or n.note_id in note_ids)

    def rows(self, run_id: str) -> list[dict]:
        """One row per (note, field) for the `note_scores` Delta table."""
        return [
            {
                "run_id": run_id,
                "mode": self.mode,
                "note_id": note.note_id,
                "status": note.status,
                "prediction_parsed": note.parsed,
                "field": field,
                "tp": score.tp,
                "fp": score.fp,
                "fn": score.fn,
                "precision": score.precision,
                "recall": score.recall,
                "f1": score.f1,
                "exact_match": score.fp == 0 and score.fn == 0,
            }
            for note in self.notes
            for field, score in note.fields.items()
        ]


def _prediction(status: str, abstraction: str | None) -> dict | None:
    """The parsed output of an ok or truncated note; None for anything else or output that is not a JSON object."""
    if status not in (OK, TRUNCATED) or abstraction is None:
        return None
    try:
        parsed = json.loads(abstraction)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _unique(notes: list[Note]) -> list[Note]:
    """`notes`, checked to hold each note_id once (a repeat would be scored twice)."""
    seen: set[str] = set()
    for note_id, _, _ in notes:
        if note_id in seen:
            raise ValueError(f"note_id {note_id!r} appears more than once")
        seen.add(note_id)
    return notes


def score_notes(notes: Iterable[Note], gold: Mapping[str, Mapping], mode: str = GOLD_MODE) -> ScoredNotes:
    """Score every note that has a reference; notes without one are listed in `without_gold` (and logged by id)."""
    notes = _unique(list(notes))
    results = []
    for note_id, status, abstraction in notes:
        if note_id in gold:
            prediction = _prediction(status, abstraction)
            results.append(NoteResult(note_id, status, prediction is not None, score_note(prediction, gold[note_id])))
    run_ids = {note_id for note_id, _, _ in notes}
    without_gold = tuple(sorted(run_ids - gold.keys()))
    if without_gold:
        log.warning("%d notes have no %s reference and are not scored, e.g. %s", len(without_gold), mode,
                    ", ".join(without_gold[:5]))
    return ScoredNotes(mode, tuple(results), without_gold, tuple(sorted(gold.keys() - run_ids)))


def reference_gold(reference_notes: Iterable[Note]) -> dict[str, dict]:
    """A reference run's ok outputs as a stand-in gold set (its other notes have no reference)."""
    return {
        note_id: parsed
        for note_id, status, text in _unique(list(reference_notes))
        if status == OK and (parsed := _prediction(status, text)) is not None
    }


def load_gold(path: str | Path) -> dict[str, dict]:
    """Gold JSONL, one `{"note_id": ..., "abstraction": {...}}` per line, as {note_id: abstraction}."""
    gold: dict[str, dict] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not (isinstance(record, dict) and isinstance(record.get("note_id"), str)
                    and isinstance(record.get("abstraction"), dict)):
                raise ValueError(f"{path}:{number}: needs a string note_id and an abstraction object")
            if record["note_id"] in gold:
                raise ValueError(f"{path}:{number}: duplicate note_id {record['note_id']!r}")
            gold[record["note_id"]] = record["abstraction"]
    return gold
