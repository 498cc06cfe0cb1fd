"""Generated and hand-picked caption corpora for comparing with pycocoevalcap."""

import random

WORDS = ("a man woman dog is are the in on of riding rides bike car phone talking playing "
         "guitar red blue big small street water cat two people running cooking food").split()
PUNCT = [",", ".", "!", "?", ";", ":", "-", "--", "...", "'s", "(", ")", "\"", "'"]
EXTRA = ["Café", "naïve", "日本", "über", "A", "The", "U.S.", "3.5", "$5", "isn't", "well-known",
         "don't", "&", "|||", "Man's"]

HAND_PICKED = {
    "identical": ("a man is riding a bike", ["a man is riding a bike", "someone cycles"]),
    "empty_hypothesis": ("", ["a dog runs", "a dog is running in the park"]),
    "only_punctuation": ("... ! ?", ["a cat sleeps"]),
    "empty_reference": ("a cat sleeps", ["", "a cat is sleeping on a sofa"]),
    "repeated_ngrams": ("a a a a a a a a", ["a a a", "a man a woman a dog"]),
    "unicode": ("Café naïve — 日本 isn't it?", ["a café in 日本", "naïve people — drinking"]),
    "single_reference": ("two people are cooking food", ["two people cook food in a kitchen"]),
    "newline_inside": ("a man\nrides a bike", ["a man rides a bike"]),
    "quotes_brackets": ('A man says "hello" (loudly) to the U.S. crowd.', ["a man says hello"]),
    "meteor_separator": ("a man ||| rides", ["a man rides a horse"]),
    "long_hypothesis_70": (" ".join(["the dog runs"] * 24), ["the dog runs fast", "a dog"]),
    "hypothesis_64_tokens": (" ".join(["a man"] * 32), ["a man", "the man is a man"]),
    "case_and_numbers": ("THE 2 Dogs are Playing With 3.5 balls", ["two dogs play with balls"]),
}


def _sentence(rng: random.Random, max_len: int) -> str:
    words = []
    for _ in range(rng.randint(0, max_len)):
        r = rng.random()
        if r < 0.12:
            words.append(rng.choice(PUNCT))
        elif r < 0.18:
            words.append(rng.choice(EXTRA))
        else:
            words.append(rng.choice(WORDS))
    text = " ".join(words)
    return text.capitalize() if rng.random() < 0.3 else text


def generated(num_items: int, seed: int = 0) -> dict:
    """id -> (hypothesis, references): 1..8 references of 0..25 words, some empty."""
    rng = random.Random(seed)
    out = {}
    for i in range(num_items):
        refs = [_sentence(rng, rng.choice([3, 8, 15, 25])) for _ in range(rng.randint(1, 8))]
        hyp = _sentence(rng, rng.choice([0, 5, 12, 20]))
        if rng.random() < 0.3 and refs:  # a hypothesis that shares much with a reference
            hyp = refs[0] + " " + _sentence(rng, 4)
        out[f"video{i}"] = (hyp, refs)
    return out


def all_cases(num_generated: int = 300) -> tuple[dict, dict]:
    """(hypotheses, references) of the hand-picked and generated cases together."""
    cases = dict(HAND_PICKED)
    cases.update(generated(num_generated))
    return {k: h for k, (h, _) in cases.items()}, {k: r for k, (_, r) in cases.items()}
