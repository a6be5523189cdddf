"""Reference-data generators: labelled frames from real methods, with provenance and resume.

* :mod:`.generate`: GFN1/GFN2-xTB (tblite) and matscipy Brenner/Tersoff labels of nanotubes and graphene,
  rattled, strained and thermal (``ase-relaxed data --method gfn1-xtb|gfn2-xtb|brenner|tersoff``);
* :mod:`.broken_symmetry`: Tersoff diamond plus a hidden uniaxial bond term (``--method tersoff-uniaxial``),
  the symmetry-broken data of the relaxed-equivariance study.
"""
