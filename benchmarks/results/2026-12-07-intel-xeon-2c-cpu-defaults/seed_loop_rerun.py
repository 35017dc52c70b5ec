"""Issue 26's independent check of the bench's baseline: the published one-image-at-a-time loop
(cv2.imread -> Detectron2 DefaultPredictor) written again here from Detectron2 alone, not through
the bench's SeedLoop, in its own process with nothing else of ours running (run it alone, under the
machine's CPU lock), over the same files at the same input sizes (one DefaultPredictor per canvas
bucket, MIN_SIZE_TEST = the bucket's short side, MAX_SIZE_TEST = its long side; each image goes to
the bucket nearest its aspect in log scale), each bucket warmed up on one image first.

python seed_loop_rerun.py TRAIN_FOLDER OUT_JSON CANVAS[,CANVAS...] IMAGE...
"""

import json
import math
import os
import sys
import time


def main(argv):
    train, out, canvases, images = argv[0], argv[1], argv[2], argv[3:]
    import cv2
    import torch
    from detectron2.config import get_cfg
    from detectron2.engine import DefaultPredictor

    buckets = [tuple(int(side) for side in name.split("x")) for name in canvases.split(",")]
    predictors = {}
    for height, width in buckets:
        size = (min(height, width), max(height, width))
        if size not in predictors:
            cfg = get_cfg()
            cfg.merge_from_file(os.path.join(train, "config.yaml"))
            cfg.MODEL.WEIGHTS = os.path.join(train, "model_final.pth")
            cfg.MODEL.DEVICE = "cpu"
            cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = size
            predictors[size] = DefaultPredictor(cfg)

    def predictor_for(image):
        h, w = image.shape[:2]
        height, width = min(buckets, key=lambda b: (abs(math.log((b[1] / b[0]) / (w / h))), b))
        return predictors[(min(height, width), max(height, width))]

    warmed = set()
    for path in images:  # one image per bucket, not timed
        image = cv2.imread(path)
        predictor = predictor_for(image)
        if id(predictor) not in warmed:
            predictor(image)
            warmed.add(id(predictor))
    load = os.getloadavg()
    cpu0, started = time.process_time(), time.perf_counter()
    kept = 0
    for path in images:
        instances = predictor_for(image := cv2.imread(path))(image)["instances"]
        kept += int((instances.scores >= 0.85).sum())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    result = {"images": len(images), "wall_s": round(wall, 3), "images_per_s": round(len(images) / wall, 4),
              "cpu_s_per_image": round(cpu / len(images), 3), "detections_at_0.85": kept,
              "torch_threads": torch.get_num_threads(), "load_average_before": [round(v, 2) for v in load],
              "load_average_after": [round(v, 2) for v in os.getloadavg()],
              "modules_loaded": sorted(m for m in ("openvino", "onnxruntime") if m in sys.modules)}
    with open(out, "w") as sink:
        json.dump(result, sink, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
