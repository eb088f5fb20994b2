"""Raw ADC to radar tensors: decode, range/Doppler/angle FFTs, Cartesian voxels, HuPR maps, CFAR point clouds, datasets.

Modules (import what you need; nothing heavy is imported here):

- :mod:`~rfpose.preprocessing.decode` — wire words → complex64 ``(loop, tx, rx, sample)``; ``read_adc_bin``.
- :mod:`~rfpose.preprocessing.polar` — ``PolarProcessor`` → ``(doppler, range, azimuth, elevation)``.
- :mod:`~rfpose.preprocessing.cartesian` — ``CartesianProcessor`` → voxels ``(doppler, z, y, x)`` (RT-Pose ROI).
- :mod:`~rfpose.preprocessing.hupr` — ``HuprProcessor`` → HuPR's ``(16, 64, 64, 8)`` complex maps.
- :mod:`~rfpose.preprocessing.points` — CA/OS-CFAR point clouds ``(x, y, z, v, snr)``.
- :mod:`~rfpose.preprocessing.torch_chain` — the decode → polar → Cartesian chain in torch.
- :mod:`~rfpose.preprocessing.factory` — ``build_processor``: a dataset's chain rebuilt from its saved config.
- :mod:`~rfpose.preprocessing.dataset` — sessions → ``DATASET.zarr`` (``build_dataset``; the format is
  :mod:`rfpose.dataset`).
- ``rfpose bench dsp`` measures this package (:mod:`rfpose.app.benchmarking.dsp`).
"""
