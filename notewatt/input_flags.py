"""Input flags: odd but usable notes are abstracted and flagged in `input_flags` (array<string>, in FLAGS order;
empty when none), as Spark column expressions over the screened text.

  html_markup             HTML tags of a known tag name, comments or entities (udfs/html_text.py): tags are
                          stripped (block tags become line breaks, script/style content is dropped) and entities
                          unescaped before prompting.
  too_long                the cleaned text is longer than max_chars (see max_chars_for); the note is chunked
                          (or cut, with chunking off).
  non_english             at least 40 letters, and under 80 % of them ASCII, or (of 20+ words) under 5 % from a
                          short list of English function and clinical words (ENGLISH_WORDS). A cheap hint only.
  instruction_like        the text matches one of INSTRUCTION_PATTERNS ("ignore previous instructions",
                          "disregard the above", "system prompt", "you are now a ...", chat-template tokens). The
                          prompt keeps the note as data; the flag is for review of the output.
  replacement_characters  a few U+FFFD (bytes that were not UTF-8, e.g. a lost apostrophe), up to
                          screening.max_replacement_share of the text; more is quarantined (notewatt/screening.py).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

HTML_MARKUP = "html_markup"
TOO_LONG = "too_long"
NON_ENGLISH = "non_english"
INSTRUCTION_LIKE = "instruction_like"
REPLACEMENT_CHARACTERS = "replacement_characters"
FLAGS = (HTML_MARKUP, TOO_LONG, NON_ENGLISH, INSTRUCTION_LIKE, REPLACEMENT_CHARACTERS)

CHARS_PER_TOKEN = 4.0  # rough English average for Llama-style tokenizers
DEFAULT_MAX_CHARS = 24_000

INSTRUCTION_PATTERNS = (
    r"\bignore\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:previous|prior|above|preceding|earlier"
    r"|foregoing)\s+(?:instructions?|prompts?|directions?|rules|messages?|text)",
    r"\bdisregard\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:previous|prior|above|preceding|earlier"
    r"|foregoing)\b",
    r"\bforget\s+(?:all\s+|everything\s+)?(?:about\s+)?(?:your|the|previous|prior)\s+(?:instructions|rules|prompt)",
    r"\bsystem\s+prompt\b",
    r"\byou\s+are\s+now\s+(?:an?\s|acting\b|my\b|no\s+longer\b|in\s+\w+\s+mode\b)",
    r"\bnew\s+instructions?\s*:",
    r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id)\|>|\[/?INST\]|<</?SYS>>",
)
INSTRUCTION_PATTERN = "(?i)" + "|".join(f"(?:{p})" for p in INSTRUCTION_PATTERNS)
ENGLISH_WORDS = tuple(
    "the and of to with for on is was were has had have he she his her not without denies reports history pain "
    "daily left right normal at by from this that or as be an are after will plan assessment exam since today "
    "noted given twice once year old male female man woman shortness breath chest blood pressure".split()
)
NON_ENGLISH_MIN_LETTERS, NON_ENGLISH_MIN_WORDS = 40, 20
MIN_ASCII_LETTER_SHARE, MIN_ENGLISH_WORD_SHARE = 0.8, 0.05


def max_chars_for(prompt_tokens: int, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """A character budget for the too_long flag from the prompt's token budget (max_model_len - max_tokens)."""
    return int(prompt_tokens * chars_per_token)


def input_flags(text: Column, html_found: Column, replacement_chars: Column, max_chars: int) -> Column:
    """The flags that apply to a clean row's (HTML-cleaned) text, in FLAGS order."""
    return F.array_compact(F.array(
        F.when(html_found, F.lit(HTML_MARKUP)),
        F.when(F.length(text) > max_chars, F.lit(TOO_LONG)),
        F.when(_non_english(text), F.lit(NON_ENGLISH)),
        F.when(text.rlike(INSTRUCTION_PATTERN), F.lit(INSTRUCTION_LIKE)),
        F.when(replacement_chars > 0, F.lit(REPLACEMENT_CHARACTERS)),
    )).cast("array<string>")


def _non_english(text: Column) -> Column:
    """Enough letters, and few of them ASCII or few words from ENGLISH_WORDS (see the module docstring)."""
    letters = F.length(F.regexp_replace(text, r"\P{L}", ""))
    ascii_letters = F.length(F.regexp_replace(text, "[^A-Za-z]", ""))
    words = F.filter(F.split(F.lower(text), r"\P{L}+"), lambda w: w != "")
    english = F.size(F.filter(words, lambda w: w.isin(*ENGLISH_WORDS)))
    few_ascii = ascii_letters < letters * MIN_ASCII_LETTER_SHARE
    few_english = (F.size(words) >= NON_ENGLISH_MIN_WORDS) & (english < F.size(words) * MIN_ENGLISH_WORD_SHARE)
    return (letters >= NON_ENGLISH_MIN_LETTERS) & (few_ascii | few_english)
