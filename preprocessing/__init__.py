"""Raw ADC to radar tensors: decode, range/Doppler/angle FFTs, Cartesian voxels, HuPR maps, CFAR point clouds, datasets."""
