"""Writes clip-pipeline.json: small PNG and JPEG files (RGBA, grey, palette, RGB) and what transformers' slow image
processors make of them, step for step as CLIPImageProcessor / LlavaImageProcessor (do_pad) / SiglipImageProcessor
do it with Pillow and numpy: convert("RGB"), pad to square with int(mean * 255), resize (Pillow bicubic), centre crop,
rescale in float64 then float32, normalise in float32. Run with Debian's /usr/bin/python3, python3-pil, python3-numpy:
    /usr/bin/python3 tests/LiveEdit.Model.Tests/Llava/Fixtures/clip_pipeline.py > tests/LiveEdit.Model.Tests/Llava/Fixtures/clip-pipeline.json
"""
import base64
import io
import json
import math

import numpy as np
import PIL
from PIL import Image

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def smooth(w, h, channels, seed):
    y, x = np.mgrid[0:h, 0:w]
    planes = []
    for c in range(channels):
        v = 127.5 + 127.5 * np.sin(x * (0.21 + 0.05 * c + 0.01 * seed) + y * (0.13 - 0.03 * c)) * np.cos(y * 0.17 + c)
        planes.append(v)
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


def files():
    rgba = Image.fromarray(smooth(45, 30, 4, 1), "RGBA")
    grey = Image.fromarray(smooth(23, 37, 1, 2)[:, :, 0], "L")
    palette = Image.fromarray(smooth(31, 19, 3, 3), "RGB").quantize(colors=16)
    photo = Image.fromarray(smooth(40, 56, 3, 4), "RGB")
    for name, image, fmt in [("rgba.png", rgba, "PNG"), ("grey.png", grey, "PNG"), ("palette.png", palette, "PNG"), ("photo.jpg", photo, "JPEG")]:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        yield name, buffer.getvalue()


def process(image, kind, side):
    image = image.convert("RGB")
    array = np.array(image)
    if kind == "clip-pad":
        h, w = array.shape[:2]
        if h != w:
            m = max(h, w)
            result = np.zeros((m, m, 3), dtype=array.dtype)
            for i, color in enumerate(tuple(int(x * 255) for x in CLIP_MEAN)):
                result[:, :, i] = color
            if w > h:
                start = (m - h) // 2
                result[start:start + h, :, :] = array
            else:
                start = (m - w) // 2
                result[:, start:start + w, :] = array
            array = result
    h, w = array.shape[:2]
    if kind == "siglip":
        size = (side, side)
    else:
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(side * long / short)
        size = (new_long, side) if w <= h else (side, new_long)
    array = np.array(Image.fromarray(array).resize((size[1], size[0]), resample=Image.BICUBIC))
    if kind != "siglip":
        h, w = array.shape[:2]
        top, left = (h - side) // 2, (w - side) // 2
        array = array[top:top + side, left:left + side]
    array = (array.astype(np.float64) * (1 / 255)).astype(np.float32)
    mean, std = (CLIP_MEAN, CLIP_STD) if kind != "siglip" else ([0.5] * 3, [0.5] * 3)
    array = (array - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return array.transpose(2, 0, 1).astype("<f4")


cases = []
for name, data in files():
    image = Image.open(io.BytesIO(data))
    image.load()
    outputs = []
    for kind, side in [("clip", 14), ("clip-pad", 14), ("siglip", 16)]:
        outputs.append({"kind": kind, "side": side, "values": base64.b64encode(process(image, kind, side).tobytes()).decode()})
    rgb = np.array(image.convert("RGB"))
    cases.append({
        "name": name, "file": base64.b64encode(data).decode(), "width": rgb.shape[1], "height": rgb.shape[0],
        "rgb": base64.b64encode(rgb.tobytes()).decode(), "outputs": outputs,
    })
print(json.dumps({"pillow": PIL.__version__, "numpy": np.__version__, "cases": cases}, indent=1))
