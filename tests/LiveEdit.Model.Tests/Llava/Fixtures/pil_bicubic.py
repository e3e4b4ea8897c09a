"""Writes pil-bicubic.json: random RGB images and Pillow's own bicubic resizes of them, the reference the C# resampler
is compared with (preprocessing_llava_images). Run with Debian's /usr/bin/python3 and python3-pil:
    /usr/bin/python3 tests/LiveEdit.Model.Tests/Llava/Fixtures/pil_bicubic.py > tests/LiveEdit.Model.Tests/Llava/Fixtures/pil-bicubic.json
"""
import base64
import json
import random

import PIL
from PIL import Image

rng = random.Random(22)
cases = []
for (w, h), targets in [
    ((29, 17), [(7, 5), (29, 40), (13, 17), (29, 6), (3, 2), (58, 34)]),
    ((97, 61), [(5, 3), (24, 15), (97, 1), (1, 61)]),
    ((8, 13), [(8, 13), (21, 4)]),
]:
    data = bytes(rng.randrange(256) for _ in range(w * h * 3))
    image = Image.frombytes("RGB", (w, h), data)
    outputs = []
    for tw, th in targets:
        resized = image.resize((tw, th), resample=Image.BICUBIC)
        outputs.append({"width": tw, "height": th, "pixels": base64.b64encode(resized.tobytes()).decode()})
    cases.append({"width": w, "height": h, "pixels": base64.b64encode(data).decode(), "resized": outputs})
print(json.dumps({"pillow": PIL.__version__, "cases": cases}, indent=1))
