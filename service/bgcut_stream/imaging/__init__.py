"""Image decoding, U²-Net-p saliency masks, variant rendering and interactive segmentation."""
