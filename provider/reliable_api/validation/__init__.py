"""Validation at integration boundaries: contracts, normalizers and the Great Expectations runner.

Import the submodules you need (:mod:`.contract`, :mod:`.normalize`, :mod:`.normalizers`); this
package imports nothing heavy, so a DAG file that names it stays fast to parse.
"""
