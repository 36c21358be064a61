"""Model builders used by the demo, the tests and the benchmarks (random, seeded weights), and a
small NNCF-style quantizer that places FakeQuantize layers on fp32 graphs."""

from .inception import inception_block, quantized_inception_block
from .quantizer import quantize
from .resnet import quantized_resnet50, resnet50
from .small_cnn import small_fq_cnn

__all__ = ["inception_block", "quantize", "quantized_inception_block", "quantized_resnet50",
           "resnet50", "small_fq_cnn"]
