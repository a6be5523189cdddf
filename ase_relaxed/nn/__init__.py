"""Exactly E(3)-equivariant building blocks (e3nn)."""

from .interaction import InteractionBlock
from .radial import BesselBasis, PolynomialEnvelope

__all__ = ["BesselBasis", "InteractionBlock", "PolynomialEnvelope"]
