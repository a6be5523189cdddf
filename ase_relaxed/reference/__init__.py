"""Reference-data generators: labelled frames from real methods, with provenance and resume.

* :mod:`.generate`: GFN1/GFN2-xTB (tblite) and matscipy Brenner/Tersoff labels of nanotubes and graphene,
  rattled, strained and thermal (``ase-relaxed data --method gfn1-xtb|gfn2-xtb|brenner|tersoff``);
* :mod:`.carbon_families`: diamond (bulk, vacancy, (100)/(111) slabs), graphite AB/AA, C60/C20, Stone–Wales and
  vacancy defects in tubes and graphene, amorphous carbon (:mod:`.amorphous`: Brenner melt-quench), each frame
  labelled with its family (``ase-relaxed data --families ...``);
* :mod:`.broken_symmetry`: Tersoff diamond plus a hidden uniaxial bond term (``--method tersoff-uniaxial``),
  the symmetry-broken data of the relaxed-equivariance study.
"""
