"""The seed article's three examples, figure for figure: P, K, K·P and the convolution."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import convmm
from convmm import reference


def test_single_channel_4x4_image() -> None:
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = np.array([[44.0, 54.0, 64.0], [84.0, 94.0, 104.0], [124.0, 134.0, 144.0]])

    p = convmm.unfold(x, (2, 2))[0]
    assert p.shape == (4, 9)
    assert np.array_equal(p[:, 0], [1.0, 2.0, 5.0, 6.0])
    k = w.reshape(1, -1)
    assert np.array_equal(k, [[1.0, 2.0, 3.0, 4.0]])
    assert np.array_equal((k @ p).reshape(3, 3), expected)

    y = convmm.conv(x, w)
    assert y.shape == (1, 1, 3, 3)
    assert np.array_equal(y[0, 0], expected)
    assert np.array_equal(convmm.conv2d(x, w), y)
    assert np.array_equal(reference.conv(x, w), y)
    assert np.array_equal(F.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy(), y)
    assert np.array_equal(F.unfold(torch.from_numpy(x), (2, 2))[0].numpy(), p)


def test_three_channel_4x4_image_two_filters() -> None:
    x = np.arange(1.0, 49.0).reshape(1, 3, 4, 4)
    w = np.arange(1.0, 25.0).reshape(2, 3, 2, 2)
    expected_kp = np.array(
        [
            [2060.0, 2138.0, 2216.0, 2372.0, 2450.0, 2528.0, 2684.0, 2762.0, 2840.0],
            [4868.0, 5090.0, 5312.0, 5756.0, 5978.0, 6200.0, 6644.0, 6866.0, 7088.0],
        ]
    )

    p = convmm.unfold(x, (2, 2))[0]
    assert p.shape == (12, 9)
    assert np.array_equal(p[0], [1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 9.0, 10.0, 11.0])
    assert np.array_equal(p[-1], [38.0, 39.0, 40.0, 42.0, 43.0, 44.0, 46.0, 47.0, 48.0])
    k = w.reshape(2, -1)
    assert np.array_equal(k, [np.arange(1.0, 13.0), np.arange(13.0, 25.0)])
    assert np.array_equal(k @ p, expected_kp)

    y = convmm.conv(x, w)
    assert y.shape == (1, 2, 3, 3)
    assert np.array_equal(y[0].reshape(2, 9), expected_kp)
    assert np.array_equal(reference.conv(x, w), y)
    assert np.array_equal(F.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy(), y)
    assert np.array_equal(F.unfold(torch.from_numpy(x), (2, 2))[0].numpy(), p)


def test_one_dimensional_three_channels_stride_two() -> None:
    x = np.arange(1.0, 37.0).reshape(1, 3, 12)
    w = np.arange(1.0, 25.0).reshape(2, 3, 4)
    expected = np.array(
        [[1530.0, 1686.0, 1842.0, 1998.0, 2154.0], [3618.0, 4062.0, 4506.0, 4950.0, 5394.0]]
    )

    p = convmm.unfold(x, (4,), stride=2)[0]
    assert p.shape == (12, 5)
    k = w.reshape(2, -1)
    assert np.array_equal(k @ p, expected)

    y = convmm.conv(x, w, stride=2)
    assert y.shape == (1, 2, 5)
    assert np.array_equal(y[0], expected)
    assert np.array_equal(convmm.conv1d(x, w, None, 2), y)
    assert np.array_equal(reference.conv(x, w, stride=2), y)
    assert np.array_equal(F.conv1d(torch.from_numpy(x), torch.from_numpy(w), stride=2).numpy(), y)
    # P is torch's 2-D unfold of the signal seen as a 1-pixel-high image
    image = torch.from_numpy(x).reshape(1, 3, 1, 12)
    assert np.array_equal(F.unfold(image, (1, 4), stride=(1, 2))[0].numpy(), p)
