"""Writes tests/reference/data/encrypted.xlsx: a one-sheet workbook saved with the password
'socap', as Excel does (ECMA-376 agile encryption in an OLE2 compound file with EncryptionInfo
and EncryptedPackage streams), by msoffcrypto-tool (not a socap dependency:
`pip install msoffcrypto-tool openpyxl`, then `python tests/reference/encrypted_xlsx.py` from the
repository root). The bytes differ per run (random salt); any run's file serves."""

import io
from pathlib import Path

import msoffcrypto.format.ooxml
import openpyxl

wb = openpyxl.Workbook()
ws = wb.active
ws.append(["ResponseId", "firm_id", "trust_1"])
ws.append(["R_1", "F1", 4])
plain = io.BytesIO()
wb.save(plain)
plain.seek(0)
out = io.BytesIO()
msoffcrypto.format.ooxml.OOXMLFile(plain).encrypt("socap", out)
Path("tests/reference/data/encrypted.xlsx").write_bytes(out.getvalue())
