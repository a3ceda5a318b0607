"""A class with planted copies among independent correct work, for the similarity flags.

Independent students fill the course's starter files (``exercises/*.py``)
with one of several genuinely different correct implementations of every
function (:data:`VARIANTS`: loops vs vectorised code, other NumPy calls,
other decompositions), in their own style: their own names, comments, input
checks, intermediate variables and experiments in the ``__main__`` cells.

Copiers take a classmate's file and disguise it, the usual ways:

* ``renamed``: every local name renamed, comments rewritten;
* ``reordered``: the functions moved around, comments rewritten;
* ``relaid``: layout changed (blank lines, spacing, line breaks), comments dropped;
* ``all``: all of the above together;
* ``padded``: all of the above, plus helper functions of the copier's own;
* ``one_exercise``: one exercise copied (disguised) inside otherwise own work.

:func:`make_class` writes the class and returns the planted pairs.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from k2l_course.exercises import checks

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = checks.EXERCISES

#: function -> several correct bodies (4-space indented), genuinely different.
VARIANTS = {
    "prepare_images": [
        """images = np.asarray(images)
flat = images.reshape((len(images), 1, -1)).astype(np.float32)
return np.tile(flat, (1, n_steps, 1))""",
        """n = images.shape[0]
out = np.empty((n, n_steps, 28 * 28), dtype=np.float32)
for i in range(n):
    row = np.ravel(images[i]).astype(np.float32)
    for t in range(n_steps):
        out[i, t] = row
return out""",
        """flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
return np.repeat(flat[:, np.newaxis, :], n_steps, axis=1)""",
        """x = np.array(images, dtype=np.float32)
x = x.reshape(x.shape[0], x.shape[1] * x.shape[2])
return np.broadcast_to(x[:, None], (x.shape[0], n_steps, x.shape[1])).copy()""",
    ],
    "last_step_accuracy": [
        """predictions = np.argmax(np.asarray(output)[:, -1, :], axis=-1)
return float(np.mean(predictions == np.asarray(labels)))""",
        """correct = 0
for i in range(len(labels)):
    if int(np.argmax(output[i][-1])) == int(labels[i]):
        correct += 1
return correct / len(labels)""",
        """last = np.asarray(output)[:, output.shape[1] - 1]
return float((last.argmax(axis=1) == labels).sum()) / float(labels.shape[0])""",
        """guesses = [list(row).index(max(row)) for row in np.asarray(output)[:, -1, :]]
return float(np.count_nonzero(np.array(guesses) == np.asarray(labels)) / len(guesses))""",
    ],
    "loihi_rate": [
        """current = np.asarray(current, dtype=np.float64)
rate = np.zeros_like(current)
positive = current > 0
steps_per_spike = np.ceil(1.0 / (current[positive] * dt))
rate[positive] = 1.0 / (dt * steps_per_spike)
return rate""",
        """j = np.array(current, dtype=float)
with np.errstate(divide="ignore"):
    k = np.where(j > 0, np.ceil(1 / np.where(j > 0, j, 1) / dt), np.inf)
return np.where(np.isfinite(k), 1.0 / (k * dt), 0.0)""",
        """flat = np.ravel(np.asarray(current, dtype=np.float64))
result = np.zeros(flat.shape)
for i, value in enumerate(flat):
    if value > 0:
        steps = math.ceil(1.0 / (value * dt))
        result[i] = 1.0 / (steps * dt)
return result.reshape(np.shape(current))""",
    ],
    "loihi_spikes": [
        """current = np.asarray(current, dtype=np.float64)
voltage = np.zeros(current.shape[1])
spikes = np.zeros(current.shape, dtype=bool)
for step in range(current.shape[0]):
    voltage += current[step] * dt
    spiked = voltage > 1
    spikes[step] = spiked
    voltage[voltage < 0] = 0
    voltage[spiked] = 0
return spikes""",
        """n_steps, n_neurons = np.shape(current)
out = np.zeros((n_steps, n_neurons), dtype=int)
for n in range(n_neurons):
    v = 0.0
    for t in range(n_steps):
        v = v + current[t][n] * dt
        if v > 1:
            out[t][n] = 1
            v = 0.0
        elif v < 0:
            v = 0.0
return out""",
        """j = np.array(current, dtype=float)
v = np.zeros(j.shape[1:])
rows = []
for t in range(len(j)):
    v = np.maximum(v + j[t] * dt, 0.0)
    fired = v > 1.0
    v = np.where(fired, 0.0, v)
    rows.append(fired)
return np.stack(rows)""",
    ],
    "mean_active_rate": [
        """outputs = np.asarray(outputs, dtype=np.float64)
rates = outputs.mean(axis=1) / amplitude
active = (outputs > 0).any(axis=1)
counts = active.sum(axis=1)
sums = np.where(active, rates, 0.0).sum(axis=1)
per_example = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
return float(per_example.mean())""",
        """means = []
for example in np.asarray(outputs, dtype=float):
    r = example.mean(axis=0) / amplitude
    on = r[(example > 0).any(axis=0)]
    means.append(on.mean() if on.size else 0.0)
return float(np.mean(means))""",
        """x = np.asarray(outputs, dtype=np.float64)
fired = np.max(x, axis=1) > 0
total = np.sum(x.mean(axis=1) / amplitude * fired, axis=1)
n = np.sum(fired, axis=1)
safe = np.maximum(n, 1)
return float(np.mean(np.where(n > 0, total / safe, 0.0)))""",
    ],
    "scales_for_target": [
        """return {name: target / float(rate) for name, rate in rates.items()}""",
        """scales = {}
for layer in rates:
    scales[layer] = float(target) / rates[layer]
return scales""",
        """names = list(rates.keys())
values = np.array([rates[k] for k in names], dtype=float)
return dict(zip(names, (target / values).tolist()))""",
    ],
    "scaled_layer_output": [
        """current = scale * np.asarray(values, dtype=np.float64)
rate = np.zeros_like(current)
positive = current > 0
rate[positive] = 1.0 / (dt * np.ceil(1.0 / (current[positive] * dt)))
return rate / scale""",
        """j = np.array(values, dtype=float) * scale
out = np.zeros(j.shape)
mask = j > 0
steps = np.ceil(1.0 / (j[mask] * dt))
out[mask] = (1.0 / steps) / dt
return out / scale""",
        """flat = np.ravel(np.asarray(values, dtype=np.float64)) * scale
result = []
for value in flat:
    result.append(0.0 if value <= 0 else 1.0 / (math.ceil(1.0 / (value * dt)) * dt) / scale)
return np.array(result).reshape(np.shape(values))""",
    ],
    "layer_rates": [
        """rates = np.asarray(outputs, dtype=np.float64) / amplitude
return np.percentile(rates, percentile, axis=(0, 1))""",
        """x = np.asarray(outputs, dtype=float)
flat = x.reshape(-1, x.shape[-1]) / amplitude
return np.array([np.percentile(flat[:, i], percentile) for i in range(flat.shape[1])])""",
        """x = np.asarray(outputs, dtype=np.float64)
stacked = np.concatenate(list(x), axis=0)
return np.quantile(stacked / amplitude, percentile / 100.0, axis=0)""",
    ],
    "rate_penalty": [
        """rates = np.asarray(rates, dtype=np.float64)
error = np.maximum(0.0, min_rate - rates) + np.maximum(0.0, rates - max_rate)
return float(0.5 * np.sum(error**2))""",
        """total = 0.0
for r in np.ravel(rates):
    if r < min_rate:
        total += (min_rate - r) ** 2
    elif r > max_rate:
        total += (r - max_rate) ** 2
return total / 2""",
        """r = np.asarray(rates, dtype=float)
low = np.clip(min_rate - r, 0, None)
high = np.clip(r - max_rate, 0, None)
return float(np.dot(low, low) + np.dot(high, high)) * 0.5""",
    ],
    "block_shapes": [
        """return {"conv0": (13, 13, 6), "conv1": (6, 6, 22), "dense0": (50,)}""",
        """shapes = dict()
shapes["conv0"] = (13, 13, 5)
shapes["conv1"] = (6, 6, 22)
shapes["dense0"] = (40,)
return shapes""",
        """conv0 = (13, 13, 4)
conv1 = (6, 6, 22)
dense = (50,)
return dict(conv0=conv0, conv1=conv1, dense0=dense)""",
    ],
    "n_blocks": [
        """count = 1
for size, block in zip(layer_shape, block_shape):
    count *= -(-size // block)
return count""",
        """return int(np.prod([math.ceil(s / b) for s, b in zip(layer_shape, block_shape)]))""",
        """total = 1
i = 0
while i < len(layer_shape):
    pieces = layer_shape[i] // block_shape[i]
    if layer_shape[i] % block_shape[i]:
        pieces += 1
    total = total * pieces
    i += 1
return total""",
    ],
    "presentation_predictions": [
        """output = np.asarray(output)
return np.argmax(output[steps_per_image - 1 :: steps_per_image], axis=-1)""",
        """x = np.asarray(output)
n_images = x.shape[0] // steps_per_image
x = x.reshape(n_images, steps_per_image, -1)
return x[:, -1, :].argmax(axis=1)""",
        """preds = []
for start in range(0, len(output), steps_per_image):
    last = output[start + steps_per_image - 1]
    preds.append(int(np.argmax(last)))
return np.array(preds, dtype=int)""",
    ],
}

#: Statements a student may add at the start of a function (their own style).
OWN_CHECKS = [
    "assert {arg} is not None, 'missing {arg}'",
    "if {arg} is None:\n    raise ValueError('{arg} is required')",
    "_debug = False",
    "# {word} first",
    "if _VERBOSE:\n    print('{name} called')",
]
WORDS = ["careful", "note", "todo", "check", "remember", "hmm", "idea", "ok"]
NAME_POOL = ["alpha", "beta", "gamma", "delta", "tmp", "buf", "acc", "vec", "res", "val", "arr", "mat", "cnt", "idx"]


def functions(exercise):
    """The functions a student writes in ``exercise`` (as the starter file names them)."""
    text = (ROOT / "exercises" / f"{exercise}.py").read_text()
    return re.findall(r'raise NotImplementedError\("(\w+): write your code here"\)', text)


def _first_argument(text, function):
    match = re.search(rf"def {function}\(([^),=]*)", text)
    return (match.group(1).strip() if match else "") or "None"


#: Equivalent ways of writing the same thing; each student picks their own, independently per choice.
STYLES = [
    (r"np\.asarray\(", "np.array("),
    (r"dtype=np\.float64", "dtype=float"),
    (r"\b1\.0 / ", "1 / "),
    (r"\b0\.0\b", "0."),
    (r"axis=-1\)", "axis=1)"),
    (r"float\(np\.mean\(", "float(np.average("),
    (r"np\.maximum\(0\.0, ", "np.maximum(0, "),
    (r"\.astype\(np\.float32\)", ".astype('float32')"),
]


def own_style(body, rng):
    """A body written the student's way: equivalent spellings and an intermediate variable or two."""
    for pattern, replacement in STYLES:
        if rng.random() < 0.5:
            body = re.sub(pattern, replacement, body)
    lines = body.splitlines()
    if lines and lines[-1].startswith("return ") and rng.random() < 0.5:
        name = rng.choice(NAME_POOL)
        lines[-1:] = [f"{name} = {lines[-1][len('return '):]}", f"return {name}"]
    return "\n".join(lines)


def own_file(exercise, rng, variant=None):
    """An independent student's correct file for ``exercise``, in their own style.

    ``variant``: the index of every function's implementation in :data:`VARIANTS`
    (modulo their number); default: each drawn from ``rng``.
    """
    text = (ROOT / "exercises" / f"{exercise}.py").read_text()
    text = text.replace("import numpy as np", "import math\n\nimport numpy as np\n\n_VERBOSE = False", 1)
    for function in functions(exercise):
        choices = VARIANTS[function]
        body = own_style(rng.choice(choices) if variant is None else choices[variant % len(choices)], rng)
        lines = []
        for _ in range(rng.randint(0, 2)):
            argument = _first_argument(text, function)
            own_checks = OWN_CHECKS if argument != "None" else [c for c in OWN_CHECKS if "{arg}" not in c]
            lines.append(rng.choice(own_checks).format(arg=argument, name=function, word=rng.choice(WORDS)))
        lines.append(body)
        block = "\n".join(lines)
        indented = "\n".join("    " + line if line else line for line in block.splitlines())
        text = text.replace(f'    raise NotImplementedError("{function}: write your code here")', indented)
    # Their own experiments in the __main__ cells.
    experiments = "\n".join(
        f"    print({rng.choice(NAME_POOL)!r}, {rng.randint(0, 999)}, {rng.random():.3f})" for _ in range(rng.randint(1, 4))
    )
    return text + f'\n\nif __name__ == "__main__":\n{experiments}\n'


# --- disguises ----------------------------------------------------------------------

_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")
_KEEP = set(__import__("keyword").kwlist) | set(dir(__import__("builtins"))) | {"np", "math", "self"}


def rename(text, rng, functions):
    """Rename every local name in the function bodies (not the graded functions' names or arguments' names)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("    ") and not line.strip().startswith(("#", "from ", "import ")):
            code = re.sub(r"(\"[^\"]*\"|'[^']*')", "", line)
            names.update(n for n in _IDENTIFIER.findall(code) if n not in _KEEP and n not in functions)
    attributes = set(re.findall(r"\.(\w+)", text))
    arguments = set(re.findall(r"def \w+\(([^)]*)\)", text))
    argument_names = {a.split("=")[0].strip() for group in arguments for a in group.split(",")}
    mapping = {n: f"{n[:1]}_{rng.randint(100, 999)}{rng.choice('xyzw')}" for n in sorted(names)
               if n not in attributes and n not in argument_names}  # fmt: skip
    return re.sub(r"\b[A-Za-z_]\w*\b(?![\"'])", lambda m: mapping.get(m.group(0), m.group(0)), text)


def rewrite_comments(text, rng):
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("#") and not stripped.startswith("# %%"):
            out.append(line[: len(line) - len(stripped)] + "# " + " ".join(rng.choice(WORDS) for _ in range(4)))
        else:
            out.append(line)
    return "\n".join(out)


def drop_comments(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def relayout(text, rng):
    text = re.sub(r" = ", lambda m: rng.choice([" = ", "=", "  =  "]), text)
    text = re.sub(r", ", lambda m: rng.choice([", ", ",", " , "]), text)
    text = re.sub(r"\n\n", lambda m: rng.choice(["\n", "\n\n\n", "\n\n"]), text)
    return text


def reorder(text, rng):
    """Move the top-level functions around (each with what follows it up to the next top-level line)."""
    parts = re.split(r"(?=^def )", text, flags=re.MULTILINE)
    head, functions = parts[0], parts[1:]
    rng.shuffle(functions)
    if len(functions) > 1 and functions == sorted(functions):
        functions.reverse()
    return head + "".join(part if part.endswith("\n") else part + "\n" for part in functions)


def pad(text, rng):
    """Add code of one's own around the copy: helper functions and checks that the original lacks."""
    helpers = []
    for k in range(2):
        name = f"_{rng.choice(NAME_POOL)}_{k}"
        lines = [f"def {name}(x, limit={rng.randint(2, 99)}):", "    checked = []"]
        lines += [f"    if len(checked) > {rng.randint(1, 9)}:\n        checked.append(x * {rng.random():.3f})"
                  for _ in range(rng.randint(2, 4))]  # fmt: skip
        lines += ["    for item in range(limit):", f"        checked.append(item % {rng.randint(2, 7)})", "    return checked"]
        helpers.append("\n".join(lines))
    return text + "\n\n" + "\n\n\n".join(helpers) + "\n"


def disguise(text, how, rng, functions):
    if how == "padded":
        return pad(disguise(text, "all", rng, functions), rng)
    if how in ("renamed", "all"):
        text = rename(text, rng, functions)
    if how in ("renamed", "reordered"):
        text = rewrite_comments(text, rng)
    if how in ("reordered", "all"):
        text = reorder(text, rng)
    if how in ("relaid", "all"):
        text = relayout(drop_comments(text), rng)
    return text


def make_class(root, n_independent=40, seed=0):
    """Write a class of independent students and planted copiers.

    Returns
    -------
    dict
        ``planted``: ``{(a, b): [exercise, ...]}`` (a < b) of the copied
        exercises; ``students``: every student id.
    """
    rng = random.Random(seed)
    root = Path(root)
    work = {}
    for i in range(n_independent):
        student = f"own{i:03d}"
        work[student] = {exercise: own_file(exercise, rng) for exercise in EXERCISES}
    planted = {}
    hows = ["renamed", "reordered", "relaid", "all", "padded"]
    sources = sorted(work)
    rng.shuffle(sources)
    k = 0
    for how in hows:  # whole-assignment copies, two per disguise
        for _ in range(2):
            source = sources[k]
            k += 1
            copier = f"copy_{how}_{k:02d}"
            work[copier] = {e: disguise(t, how, rng, set(VARIANTS)) for e, t in work[source].items()}
            planted[tuple(sorted((source, copier)))] = list(EXERCISES)
    for exercise in EXERCISES:  # one copied exercise inside otherwise own work
        for _ in range(2):
            source = sources[k]
            k += 1
            copier = f"copy_one_{exercise}_{k:02d}"
            own = {e: own_file(e, rng) for e in EXERCISES}
            own[exercise] = disguise(work[source][exercise], rng.choice(hows), rng, set(VARIANTS))
            work[copier] = own
            planted[tuple(sorted((source, copier)))] = [exercise]
    for student, files in work.items():
        folder = root / student
        folder.mkdir(parents=True)
        for exercise, text in files.items():
            (folder / f"{exercise}.py").write_text(text)
    return {"planted": planted, "students": sorted(work)}
