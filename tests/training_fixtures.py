"""The smallest training run that is still Detectron2's own: R18 from scratch, tiny batches."""

TINY = ["--config", "faster_rcnn_R_50_FPN_1x", "--from-scratch", "--ims-per-batch", "1",
        "--set", "MODEL.RESNETS.DEPTH=18", "--set", "MODEL.RESNETS.RES2_OUT_CHANNELS=64",
        "--set", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE=32", "--set", "MODEL.RPN.POST_NMS_TOPK_TRAIN=100",
        "--set", "MODEL.RPN.POST_NMS_TOPK_TEST=100", "--set", "DATALOADER.NUM_WORKERS=0"]
