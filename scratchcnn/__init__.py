"""scratchcnn: the helper package of the book *CNN from Scratch*.

Every chapter builds a piece of a convolutional network with loops first, then imports the
fast, tested version from here. Modules, each with one job:

- ``layers``      vectorized layers behind one protocol (``Layer``): Conv2D, MaxPool2D, ReLU,
                  Sigmoid, Flatten, Affine, Dropout, Sequential; the loss SoftmaxCrossEntropy;
                  ``im2col`` and ``col2im`` (also importable from ``scratchcnn`` itself)
- ``naive``       the same layers written with explicit loops (the reference in tests)
- ``gradcheck``   centred finite differences and relative errors
- ``optim``       SGD with momentum and weight decay; Adam
- ``train``       ``fit`` and ``evaluate``
- ``models``      the book's model and the deeper ``lenet`` of chapter 9
- ``data``        MNIST and Fashion-MNIST from every source, with a bundled offline sample
- ``idx``         the idx file format MNIST is published in: a checked reader and a writer
- ``preprocess``  scaling, standardisation, the channel axis
- ``plots``       figures used by the chapters
- ``check``       self-checks for the exercises
- ``assignments`` ``python -m scratchcnn.assignments``: student and solution copies of the
                  chapters for instructors (``make assignments``)
- ``bench``       ``python -m scratchcnn.bench``: the speed benchmark
- ``reader_copy`` ``python -m scratchcnn.reader_copy``: the chapters rendered for plain Jupyter
                  and Colab (``make colab``)
"""

__version__ = "0.1.0"  # the one place of the version (pyproject.toml reads it)

from .layers import col2im, im2col

__all__ = ["im2col", "col2im"]
