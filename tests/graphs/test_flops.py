"""``count_flops``: the VGG19 reference graph against the closed-form count."""

from __future__ import annotations

from anime_detector.graphs.flops import count_flops
from anime_detector.graphs.reference import HEAD, VGG19_BLOCKS, build_reference_graph


def test_vgg19_reference_graph_matches_the_formula() -> None:
    side, c_in, conv_macs = 224, 3, 0
    for c_out, n in VGG19_BLOCKS:
        for _ in range(n):
            conv_macs += side * side * c_out * c_in * 9
            c_in = c_out
        side //= 2
    gemm_macs, width = 0, c_in
    for units in HEAD:
        gemm_macs, width = gemm_macs + width * units, units
    count = count_flops(build_reference_graph())
    assert count.macs == {"Conv": conv_macs, "Gemm": gemm_macs}
    assert round(count.gflops, 1) == 39.0  # VGG19 at 224x224: 19.6 G multiply-adds
    assert count_flops(build_reference_graph(), batch=4).macs["Conv"] == 4 * conv_macs
