#!/usr/bin/env python3
"""Build the binary assets of the Kestrel Fluidworks sample data set.

Generates, from the plain-text sources in ``src/`` and the data tables in this
script:

* data/manuals/kf-series-service-manual.pdf   (from src/kf-series-service-manual.txt)
* data/manuals/dx-series-datasheet.pdf        (from src/dx-series-datasheet.txt)
* data/procedures/*.docx                      (from src/<name>.txt)
* data/tables/pump_specs.xlsx                 (PERFORMANCE, MAINTENANCE, NOTES below)
* data/db/kestrel.db                          (CUSTOMERS, INSTALLATIONS, TICKETS below)

Requirements (not part of the project's own environment):
    pip install fpdf2 python-docx openpyxl

Run:  python build_assets.py            (from any directory)
Output is deterministic: fixed document dates and fixed ZIP timestamps.

Source markup used in src/*.txt (one element per line, blank lines ignored):
    @title TEXT / @subtitle TEXT / @meta TEXT   document title block
    # TEXT          heading level 1 (starts a new page in PDFs)
    ## TEXT         heading level 2
    - TEXT          bullet list item
    1. TEXT         numbered list item
    @table A | B    table header row;  @row a | b   table data row
    anything else   body paragraph
"""
from __future__ import annotations

import datetime as _dt
import io
import re
import sqlite3
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
DATA = HERE / "data"

FIXED_DT = _dt.datetime(2025, 6, 30, 12, 0, 0, tzinfo=_dt.timezone.utc)
FIXED_DT_NAIVE = FIXED_DT.replace(tzinfo=None)
ZIP_DATE = (2025, 6, 30, 12, 0, 0)
AUTHOR = "Kestrel Fluidworks GmbH"


# --------------------------------------------------------------------------
# source parsing
# --------------------------------------------------------------------------
def parse_source(path: Path) -> dict:
    """Parse the simple line markup into a title block and a list of blocks."""
    doc = {"title": "", "subtitle": "", "meta": [], "blocks": []}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("@title "):
            doc["title"] = line[7:].strip()
        elif line.startswith("@subtitle "):
            doc["subtitle"] = line[10:].strip()
        elif line.startswith("@meta "):
            doc["meta"].append(line[6:].strip())
        elif line.startswith("@table "):
            doc["blocks"].append(("table", [[c.strip() for c in line[7:].split("|")]]))
        elif line.startswith("@row "):
            kind, rows = doc["blocks"][-1]
            assert kind == "table", f"@row without @table in {path}"
            rows.append([c.strip() for c in line[5:].split("|")])
        elif line.startswith("## "):
            doc["blocks"].append(("h2", line[3:].strip()))
        elif line.startswith("# "):
            doc["blocks"].append(("h1", line[2:].strip()))
        elif line.startswith("- "):
            doc["blocks"].append(("bullet", line[2:].strip()))
        elif re.match(r"^\d+\.\s", line):
            doc["blocks"].append(("number", re.sub(r"^\d+\.\s+", "", line)))
        else:
            doc["blocks"].append(("para", line))
    return doc


def _check_latin1(text: str, where: str) -> str:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:  # pragma: no cover - guard for authors
        raise SystemExit(f"non latin-1 character in {where}: {text!r} ({exc})")
    return text


# --------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------
def build_pdf(src_name: str, out_path: Path, doc_code: str, cover_page: bool) -> None:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    doc = parse_source(SRC / src_name)

    class PDF(FPDF):
        def header(self):
            if self.page_no() == 1 and cover_page:
                return
            self.set_font("Helvetica", "I", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 6, f"Kestrel Fluidworks GmbH - {doc['title']} ({doc_code})", align="L")
            self.ln(9)
            self.set_text_color(0, 0, 0)

        def footer(self):
            self.set_y(-14)
            self.set_font("Helvetica", "I", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = PDF(format="A4")
    pdf.set_creation_date(FIXED_DT)
    pdf.set_title(doc["title"])
    pdf.set_author(AUTHOR)
    pdf.set_subject(doc["subtitle"])
    pdf.set_creator("build_assets.py")
    pdf.set_producer("fpdf2")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)

    def para(text, size=10, style="", h=5.2):
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(0, h, _check_latin1(text, src_name), new_x="LMARGIN", new_y="NEXT")

    # title block
    pdf.add_page()
    if cover_page:
        pdf.ln(50)
        para(doc["title"], size=24, style="B", h=11)
        pdf.ln(3)
        para(doc["subtitle"], size=14, h=7)
        pdf.ln(12)
        for m in doc["meta"]:
            para(m, size=10, h=6)
        pdf.ln(20)
        para("Contents", size=12, style="B", h=7)
        for kind, text in doc["blocks"]:
            if kind == "h1":
                para(text, size=10, h=5.5)
        first_h1_pending = False
    else:
        para(doc["title"], size=18, style="B", h=9)
        para(doc["subtitle"], size=12, h=6)
        for m in doc["meta"]:
            para(m, size=9, h=5)
        pdf.ln(4)
        first_h1_pending = True

    num = 0
    for kind, payload in doc["blocks"]:
        if kind == "h1":
            if first_h1_pending:
                first_h1_pending = False
            else:
                pdf.add_page()
            pdf.ln(2)
            para(payload, size=15, style="B", h=8)
            pdf.ln(1)
            num = 0
        elif kind == "h2":
            pdf.ln(2)
            para(payload, size=12, style="B", h=6.5)
            num = 0
        elif kind == "para":
            para(payload)
            pdf.ln(1.5)
            num = 0
        elif kind == "bullet":
            pdf.set_font("Helvetica", "", 10)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 5.2, _check_latin1("- " + payload, src_name), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
        elif kind == "number":
            num += 1
            pdf.set_font("Helvetica", "", 10)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 5.2, _check_latin1(f"{num}. {payload}", src_name), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
        elif kind == "table":
            pdf.ln(1)
            pdf.set_font("Helvetica", "", 9)
            with pdf.table(
                headings_style=FontFace(emphasis="BOLD", fill_color=(215, 228, 242)),
                line_height=5,
                text_align="LEFT",
            ) as table:
                for r in payload:
                    row = table.row()
                    for c in r:
                        row.cell(_check_latin1(c, src_name))
            pdf.ln(3)
            num = 0
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out_path))


# --------------------------------------------------------------------------
# ZIP normalisation (docx / xlsx) for reproducible output
# --------------------------------------------------------------------------
def normalise_zip(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                stamp = FIXED_DT.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                blob = re.sub(rb"(<dcterms:created[^>]*>)[^<]*(</dcterms:created>)", rb"\g<1>" + stamp + rb"\g<2>", blob)
                blob = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", blob)
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, blob)
    return out.getvalue()


# --------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------
def _new_list_numbering(d) -> int:
    """Create a numbering instance of the 'List Number' style that restarts at 1."""
    numbering = d.part.numbering_part.element
    style_num_id = d.styles["List Number"].element.pPr.numPr.numId.val
    abstract_id = numbering.num_having_numId(style_num_id).abstractNumId.val
    num = numbering.add_num(abstract_id)
    num.add_lvlOverride(ilvl=0).add_startOverride(1)
    return num.numId


def _set_num_id(paragraph, num_id: int) -> None:
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = 0
    num_pr.get_or_add_numId().val = num_id


def build_docx(src_name: str, out_path: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    doc = parse_source(SRC / src_name)
    d = Document()
    d.styles["Normal"].font.name = "Calibri"
    d.styles["Normal"].font.size = Pt(11)
    cp = d.core_properties
    cp.author = AUTHOR
    cp.last_modified_by = AUTHOR
    cp.title = doc["title"]
    cp.subject = doc["meta"][0] if doc["meta"] else ""
    cp.created = FIXED_DT_NAIVE
    cp.modified = FIXED_DT_NAIVE
    cp.last_printed = FIXED_DT_NAIVE
    cp.revision = 1

    d.add_heading(doc["title"], level=0)
    for m in doc["meta"]:
        p = d.add_paragraph()
        p.add_run(m).italic = True

    prev_kind = None
    list_num_id = None
    for kind, payload in doc["blocks"]:
        if kind == "h1":
            d.add_heading(payload, level=1)
        elif kind == "h2":
            d.add_heading(payload, level=2)
        elif kind == "para":
            d.add_paragraph(payload)
        elif kind == "bullet":
            d.add_paragraph(payload, style="List Bullet")
        elif kind == "number":
            para = d.add_paragraph(payload, style="List Number")
            if prev_kind != "number":
                list_num_id = _new_list_numbering(d)
            _set_num_id(para, list_num_id)
        elif kind == "table":
            t = d.add_table(rows=0, cols=len(payload[0]))
            t.style = "Table Grid"
            for r in payload:
                cells = t.add_row().cells
                for i, c in enumerate(r):
                    cells[i].text = c
        prev_kind = kind
    buf = io.BytesIO()
    d.save(buf)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(normalise_zip(buf.getvalue()))


# --------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------
PERFORMANCE_HEADER = [
    "Model", "Family", "Rated flow", "Flow unit", "Rated head (m)", "Max. pressure (bar)",
    "Motor (kW)", "Speed", "Max. fluid temp. (°C)", "Weight (kg)", "Efficiency at BEP (%)",
    "List price (EUR)",
]
PERFORMANCE = [
    ["KF-220", "Centrifugal", 18.5, "m3/h", 31, 10, 4.0, "2900 rpm", 90, 78, 68, 3950],
    ["KF-340", "Centrifugal", 42, "m3/h", 47, 16, 7.5, "2900 rpm", 110, 126, 74, 6480],
    ["KF-560", "Centrifugal", 88, "m3/h", 62, 16, 18.5, "2950 rpm", 120, 245, 79, 12900],
    ["DX-12", "Diaphragm dosing", 12, "l/h", "n/a", 10, 0.18, "180 strokes/min", 50, 9.5, "n/a", 1180],
    ["DX-40", "Diaphragm dosing", 40, "l/h", "n/a", 6, 0.37, "160 strokes/min", 45, 17, "n/a", 1760],
]

MAINTENANCE_HEADER = ["Model", "Task", "Interval (operating hours)", "Part number", "Reference"]
MAINTENANCE = [
    ["KF-220", "Inspect coupling element", 4000, "KP-2206-05", "KF-MAN-KF 9.1"],
    ["KF-220", "Inspect mechanical seal", 8000, "", "KF-MAN-KF 9.1"],
    ["KF-220", "Measure wear ring clearance (max. 0.45 mm)", 12000, "KP-2205-03", "KF-MAN-KF 9.2"],
    ["KF-220", "Replace mechanical seal", 16000, "KP-2202-07", "KF-MAN-KF 9.1"],
    ["KF-220", "Replace bearings (greased for life)", 20000, "KP-2204-11", "KF-MAN-KF 8.3"],
    ["KF-220", "Replace coupling element", 24000, "KP-2206-05", "KF-MAN-KF 9.1"],
    ["KF-340", "Regrease bearings, 12 g LX-2 per bearing", 3000, "KP-0960-01", "KF-MAN-KF 8.3"],
    ["KF-340", "Inspect coupling element", 4000, "KP-3406-05", "KF-MAN-KF 9.1"],
    ["KF-340", "Inspect mechanical seal", 8000, "", "KF-MAN-KF 9.1"],
    ["KF-340", "Measure wear ring clearance (max. 0.60 mm)", 12000, "KP-3405-03", "KF-MAN-KF 9.2"],
    ["KF-340", "Replace mechanical seal", 16000, "KP-3402-07", "KF-PR-07"],
    ["KF-340", "Replace coupling element", 24000, "KP-3406-05", "KF-MAN-KF 9.1"],
    ["KF-340", "Replace bearings", 32000, "KP-3404-11", "KF-MAN-KF 8.3"],
    ["KF-560", "Regrease bearings, 20 g LX-2 per bearing", 2000, "KP-0960-01", "KF-MAN-KF 8.3"],
    ["KF-560", "Inspect coupling element", 4000, "KP-5606-05", "KF-MAN-KF 9.1"],
    ["KF-560", "Inspect mechanical seal", 8000, "", "KF-MAN-KF 9.1"],
    ["KF-560", "Measure wear ring clearance (max. 0.80 mm)", 12000, "KP-5605-03", "KF-MAN-KF 9.2"],
    ["KF-560", "Replace mechanical seal", 16000, "KP-5602-07", "KF-MAN-KF 9.1"],
    ["KF-560", "Replace coupling element", 24000, "KP-5606-05", "KF-MAN-KF 9.1"],
    ["KF-560", "Replace bearings", 30000, "KP-5604-11", "KF-MAN-KF 8.3"],
    ["DX-12", "Calibration (Dial-in)", 1000, "", "KF-PR-11"],
    ["DX-12", "Valve set inspection", 3000, "KP-1205-02", "KF-DS-DX"],
    ["DX-12", "Replace diaphragm (service kit)", 6000, "KP-1209-01", "KF-DS-DX"],
    ["DX-40", "Calibration (Dial-in)", 1000, "", "KF-PR-11"],
    ["DX-40", "Valve set inspection", 3000, "KP-4005-02", "KF-DS-DX"],
    ["DX-40", "Replace diaphragm (service kit)", 4500, "KP-4009-01", "KF-DS-DX"],
]

NOTES = [
    ["Price list", "PL-2025-02"],
    ["Valid from", "1 February 2025"],
    ["Prices", "List prices in EUR, excluding VAT, ex works Linz, pump with standard motor and baseplate (KF) or with standard PVDF head (DX)"],
    ["Controller", "A FlowSense FS-3 controller is included in the list price of every pump"],
    ["Performance data", "At best efficiency point, water at 20 °C, 50 Hz supply"],
    ["Intervals", "Operating hours as counted by the FS-3 hour counter; see KF-MAN-KF section 9 and datasheet KF-DS-DX"],
]


def build_xlsx(out_path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.properties.creator = AUTHOR
    wb.properties.lastModifiedBy = AUTHOR
    wb.properties.title = "Kestrel pump specifications and maintenance intervals"
    wb.properties.created = FIXED_DT_NAIVE
    wb.properties.modified = FIXED_DT_NAIVE

    def fill(ws, header, rows, widths):
        ws.append(header)
        for c in ws[1]:
            c.font = Font(bold=True)
        for r in rows:
            ws.append(r)
        for i, w in enumerate(widths):
            ws.column_dimensions[chr(ord("A") + i)].width = w
        ws.freeze_panes = "A2"

    ws = wb.active
    ws.title = "Performance"
    fill(ws, PERFORMANCE_HEADER, PERFORMANCE, [9, 18, 11, 10, 15, 19, 11, 17, 21, 12, 21, 16])
    ws2 = wb.create_sheet("Maintenance Intervals")
    fill(ws2, MAINTENANCE_HEADER, MAINTENANCE, [9, 46, 26, 14, 16])
    ws3 = wb.create_sheet("Notes")
    fill(ws3, ["Item", "Note"], NOTES, [18, 110])

    buf = io.BytesIO()
    wb.save(buf)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(normalise_zip(buf.getvalue()))


# --------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------
CUSTOMERS = [
    # customer_id, name, industry, city, country, contact_person
    ("C-1001", "Donautal Brauerei AG", "Brewery", "Freistadt", "Austria", "Florian Haas"),
    ("C-1002", "Stadtwerke Steyr Wasser GmbH", "Municipal water", "Steyr", "Austria", "Birgit Lehner"),
    ("C-1003", "Alpenmilch Molkerei eGen", "Dairy", "Woergl", "Austria", "Hannes Egger"),
    ("C-1004", "Traunsee Papier GmbH", "Pulp and paper", "Gmunden", "Austria", "Robert Moser"),
    ("C-1005", "Chemiepark Enns Betriebs GmbH", "Chemicals", "Enns", "Austria", "Dr. Sonja Baumgartner"),
    ("C-1006", "Elbkuehl Logistik GmbH", "Cold storage", "Hamburg", "Germany", "Kai Petersen"),
    ("C-1007", "Bayerwald Getraenke GmbH", "Beverages", "Passau", "Germany", "Michaela Straub"),
    ("C-1008", "Moravia Pharma s.r.o.", "Pharmaceuticals", "Brno", "Czech Republic", "Tomas Dvorak"),
    ("C-1009", "Vltava Textil a.s.", "Textiles", "Ceske Budejovice", "Czech Republic", "Lucie Horakova"),
    ("C-1010", "Kommunalbetriebe Regensburg-Ost", "Wastewater", "Regensburg", "Germany", "Georg Hintermeier"),
    ("C-1011", "Suedtirol Obst Genossenschaft", "Food processing", "Bolzano", "Italy", "Martin Pichler"),
    ("C-1012", "Toplarna Savinja d.o.o.", "District heating", "Celje", "Slovenia", "Ana Kovac"),
    ("C-1013", "Pannonia Sugar Kft.", "Sugar", "Gyor", "Hungary", "Laszlo Toth"),
    ("C-1014", "Inntal Galvanik GmbH", "Surface treatment", "Kufstein", "Austria", "Peter Hofmann"),
    ("C-1015", "Wachau Kellerei GmbH", "Winery", "Krems", "Austria", "Elisabeth Schmid"),
    ("C-1016", "Rheinfels Brauhaus GmbH", "Brewery", "Koblenz", "Germany", "Jens Becker"),
    ("C-1017", "Schwarzwald Quellen GmbH", "Mineral water", "Freiburg", "Germany", "Carina Vogt"),
    ("C-1018", "Tatra Mlieko s.r.o.", "Dairy", "Poprad", "Slovakia", "Juraj Kollar"),
    ("C-1019", "Urfahr Energie GmbH", "District heating", "Linz", "Austria", "Manfred Kurz"),
    ("C-1020", "Aqua Vindobona Wasseraufbereitung GmbH", "Water treatment", "Vienna", "Austria", "Nina Berger"),
    ("C-1021", "Kaernten Holzwerk GmbH", "Timber", "Villach", "Austria", "Wolfgang Rainer"),
    ("C-1022", "Bodensee Kunststofftechnik GmbH", "Plastics", "Friedrichshafen", "Germany", "Sven Albrecht"),
]

INSTALLATIONS = [
    # serial_number, customer_id, site, model, install_date, careline_level, fs3_firmware
    ("KF340-23-01187", "C-1001", "Freistadt Brewhouse 2 CIP return", "KF-340", "2023-06-12", "Plus", "3.2"),
    ("KF220-21-00544", "C-1001", "Freistadt Bottling Hall", "KF-220", "2021-09-03", "Standard", "3.1"),
    ("DX12-23-00318", "C-1001", "Freistadt Water Treatment", "DX-12", "2023-06-14", "Plus", "3.2"),
    ("KF560-20-00091", "C-1002", "Steyr Pumping Station Nord", "KF-560", "2020-04-22", "Standard", "3.2"),
    ("KF560-22-00173", "C-1002", "Steyr Pumping Station Ost", "KF-560", "2022-10-05", "Plus", "3.4"),
    ("DX40-22-00207", "C-1002", "Steyr Waterworks Chlorination", "DX-40", "2022-10-07", "Plus", "3.4"),
    ("KF340-22-00871", "C-1003", "Woergl CIP Station", "KF-340", "2022-02-17", "Plus", "3.2"),
    ("KF220-24-00902", "C-1003", "Woergl Cooling Water", "KF-220", "2024-05-08", "Standard", "3.4"),
    ("KF560-21-00128", "C-1004", "Gmunden Stock Preparation", "KF-560", "2021-07-19", "Plus", "3.2"),
    ("KF340-19-00412", "C-1004", "Gmunden White Water", "KF-340", "2019-11-04", "Standard", "3.1"),
    ("DX40-23-00265", "C-1005", "Enns Neutralisation Unit", "DX-40", "2023-03-21", "Plus", "3.2"),
    ("DX12-24-00455", "C-1005", "Enns Boiler Feed Dosing", "DX-12", "2024-08-27", "Standard", "3.4"),
    ("KF340-24-01422", "C-1006", "Hamburg Cold Store Brine Loop", "KF-340", "2024-02-13", "Plus", "3.4"),
    ("KF220-20-00377", "C-1007", "Passau Syrup Room", "KF-220", "2020-08-25", "Standard", "3.1"),
    ("KF340-21-00655", "C-1008", "Brno Purified Water Loop", "KF-340", "2021-05-10", "Plus", "3.2"),
    ("DX12-21-00150", "C-1008", "Brno pH Correction", "DX-12", "2021-05-12", "Plus", "3.2"),
    ("KF560-23-00210", "C-1009", "Ceske Budejovice Dye House", "KF-560", "2023-09-18", "Standard", "3.2"),
    ("KF340-22-00918", "C-1010", "Regensburg Sludge Return", "KF-340", "2022-06-30", "Plus", "3.4"),
    ("KF220-23-00781", "C-1011", "Bolzano Fruit Wash", "KF-220", "2023-08-02", "Standard", "3.2"),
    ("KF560-24-00266", "C-1012", "Celje District Heating Return", "KF-560", "2024-09-10", "Plus", "3.4"),
    ("KF340-20-00510", "C-1013", "Gyor Juice Purification", "KF-340", "2020-09-14", "Standard", "3.1"),
    ("DX40-21-00133", "C-1014", "Kufstein Rinse Water Treatment", "DX-40", "2021-11-23", "Plus", "3.2"),
    ("KF220-22-00655", "C-1015", "Krems Cellar Transfer", "KF-220", "2022-09-01", "Standard", "3.2"),
    ("KF340-23-01245", "C-1016", "Koblenz Wort Cooling", "KF-340", "2023-11-06", "Plus", "3.4"),
    ("DX12-22-00276", "C-1017", "Freiburg Disinfection", "DX-12", "2022-04-04", "Standard", "3.2"),
    ("KF340-25-01530", "C-1018", "Poprad Pasteuriser Feed", "KF-340", "2025-01-27", "Plus", "3.4"),
    ("KF560-19-00052", "C-1019", "Linz-Urfahr Heat Station 3", "KF-560", "2019-03-12", "Standard", "3.1"),
    ("KF220-25-01010", "C-1020", "Vienna Simmering Filter Backwash", "KF-220", "2025-02-19", "Plus", "3.4"),
    ("KF560-22-00159", "C-1021", "Villach Log Pond Supply", "KF-560", "2022-05-16", "Standard", "3.2"),
    ("DX40-24-00301", "C-1022", "Friedrichshafen Cooling Tower Dosing", "DX-40", "2024-06-03", "Plus", "3.4"),
]

TICKETS = [
    # ticket_id, serial_number, opened_date, error_code, resolution, parts_used, technician, hours_on_site
    ("T-2024-0031", "KF340-19-00412", "2024-01-16", "E-107", "Regreasing overdue by 1,400 h; bearings regreased with 12 g LX-2 each, temperature back to 64 °C", "KP-0960-01", "Eva Steindl", 1.5),
    ("T-2024-0047", "KF560-20-00091", "2024-02-02", "E-108", "Coupling parallel offset 0.21 mm; realigned to 0.04 mm, T-check done", "", "Lukas Hofer", 3.0),
    ("T-2024-0058", "DX40-21-00133", "2024-02-20", "E-110", "Diaphragm ruptured after 4,900 h; diaphragm replaced, Dial-in done, P-214 set to 1.03", "KP-4003-04", "Sabine Leitgeb", 2.5),
    ("T-2024-0066", "KF340-21-00655", "2024-03-05", "E-301", "Bus termination missing after cabinet rebuild; 120 Ohm terminator fitted", "", "Marek Novak", 1.0),
    ("T-2024-0079", "KF220-20-00377", "2024-03-27", "E-202", "Loose terminal on phase L2; terminal tightened to 2.5 Nm", "", "Lukas Hofer", 1.0),
    ("T-2024-0093", "KF340-22-00871", "2024-04-18", "E-106", "Seal leak; shaft sleeve from lot 22-117 scored, sleeve and seal replaced per SB-2023-004", "KP-3407-02; KP-3402-07", "Sabine Leitgeb", 4.0),
    ("T-2024-0102", "DX12-21-00150", "2024-05-06", "E-111", "Gas lock with sodium hypochlorite; degassing valve fitted", "KP-1207-01", "Marek Novak", 1.5),
    ("T-2024-0118", "KF560-21-00128", "2024-05-29", "E-105", "Start-up strainer had never been removed; strainer removed, cavitation gone", "", "Eva Steindl", 2.0),
    ("T-2024-0131", "KF560-22-00159", "2024-06-21", "E-206", "Insulation 0.6 MOhm after flooding of pump pit; motor dried for 24 h, now 85 MOhm", "", "Eva Steindl", 3.5),
    ("T-2024-0145", "DX40-22-00207", "2024-07-15", "E-113", "Level lance float stuck; level lance replaced", "KP-9050-03", "Lukas Hofer", 1.0),
    ("T-2024-0152", "KF340-20-00510", "2024-07-30", "E-104", "Night-time demand below 8 m3/h; customer installed minimum-flow bypass", "", "Marek Novak", 2.0),
    ("T-2024-0167", "KF560-19-00052", "2024-08-19", "E-304", "RTC battery at 2.3 V; battery replaced and clock set", "KP-9020-05", "Lukas Hofer", 0.5),
    ("T-2024-0174", "KF340-24-01422", "2024-09-02", "E-302", "Cable shield grounded at both ends; changed to one end, CRC errors gone", "", "Jonas Berger", 1.5),
    ("T-2024-0188", "KF220-21-00544", "2024-09-24", "E-101", "Buffer tank ran empty; level switch readjusted, seal inspected without damage", "", "Lukas Hofer", 1.5),
    ("T-2024-0196", "KF560-23-00210", "2024-10-08", "E-109", "Impeller damaged by a bolt left in the pipework after modification; impeller replaced", "KP-5601-02", "Marek Novak", 6.0),
    ("T-2024-0203", "DX12-22-00276", "2024-10-21", "E-110", "Diaphragm ruptured after 6,100 h; service kit fitted, Dial-in done", "KP-1209-01", "Jonas Berger", 2.0),
    ("T-2024-0215", "KF340-22-00918", "2024-11-12", "E-106", "False alarm from condensate in seal chamber; P-116 set to 30 s per SB-2024-013", "", "Jonas Berger", 1.0),
    ("T-2024-0224", "KF220-22-00655", "2024-11-28", "E-205", "Motor fan cowl blocked by packaging film; cowl cleaned", "", "Eva Steindl", 1.0),
    ("T-2024-0231", "KF340-21-00655", "2024-12-10", "E-303", "Parameter checksum error after power failure; parameters restored from backup (Menu 9.4)", "", "Marek Novak", 1.0),
    ("T-2025-0008", "KF560-20-00091", "2025-01-14", "E-203", "Supply dips to 352 V during utility switching; customer informed the utility", "", "Lukas Hofer", 1.0),
    ("T-2025-0019", "DX40-23-00265", "2025-01-29", "E-209", "Stroke sensor without signal; sensor replaced", "KP-9030-02", "Lukas Hofer", 1.0),
    ("T-2025-0034", "KF220-23-00781", "2025-02-11", "E-102", "Suction strainer blocked with fruit residue; strainer basket replaced", "KP-0950-01", "Sabine Leitgeb", 1.5),
    ("T-2025-0047", "KF340-19-00412", "2025-02-25", "E-107", "Bearings worn after 33,500 h; bearing kit fitted", "KP-3404-11", "Eva Steindl", 5.0),
    ("T-2025-0061", "KF340-23-01245", "2025-03-04", "E-108", "Loose anchor bolts; re-torqued to 110 Nm, T-check done", "", "Jonas Berger", 2.0),
    ("T-2025-0112", "KF340-23-01187", "2025-03-18", "E-106", "Seal damaged by dry running (suction valve partly closed after tank cleaning); seal replaced, T-check OK; not covered by warranty", "KP-3402-07; KP-3403-01; KP-3408-01", "Lukas Hofer", 4.5),
    ("T-2025-0127", "KF560-22-00173", "2025-04-02", "E-318", "New site firewall blocked CareLine Connect; customer IT opened outbound port 8883", "", "Lukas Hofer", 0.5),
    ("T-2025-0139", "KF560-24-00266", "2025-04-23", "E-312", "Ethernet switch port disabled by customer IT; port re-enabled", "", "Sabine Leitgeb", 1.0),
    ("T-2025-0150", "DX12-24-00455", "2025-05-07", "E-111", "Air drawn in at loose suction fitting; fitting tightened, dosing head bled", "", "Eva Steindl", 1.0),
    ("T-2025-0163", "KF340-25-01530", "2025-05-20", "E-105", "NPSH too low because suction tank minimum level set too low; customer raised minimum level by 0.8 m", "", "Marek Novak", 2.0),
    ("T-2025-0178", "KF220-25-01010", "2025-06-03", "E-208", "24 V power supply unit failed; unit replaced", "KP-9060-01", "Eva Steindl", 1.0),
    ("T-2025-0186", "KF560-21-00128", "2025-06-17", "E-107", "Bearing temperature 97 °C with fluid above 100 °C; regreased, interval set to 1,000 h per SB-2024-002", "KP-0960-01", "Eva Steindl", 1.5),
    ("T-2025-0194", "DX40-24-00301", "2025-07-01", "E-110", "Diaphragm attacked after customer changed to 30 % sulphuric acid without consulting Kestrel; diaphragm replaced, not covered by warranty", "KP-4003-04", "Jonas Berger", 2.0),
]


def build_db(out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.exists():
        out_path.unlink()
    con = sqlite3.connect(out_path)
    con.executescript(
        """
        CREATE TABLE customers (
            customer_id    TEXT PRIMARY KEY,
            name           TEXT NOT NULL,
            industry       TEXT,
            city           TEXT,
            country        TEXT,
            contact_person TEXT
        );
        CREATE TABLE installations (
            serial_number  TEXT PRIMARY KEY,
            customer_id    TEXT NOT NULL REFERENCES customers(customer_id),
            site           TEXT NOT NULL,
            model          TEXT NOT NULL,
            install_date   TEXT NOT NULL,  -- ISO date of commissioning (Hour Zero)
            careline_level TEXT NOT NULL CHECK (careline_level IN ('Standard', 'Plus')),
            fs3_firmware   TEXT NOT NULL
        );
        CREATE TABLE service_tickets (
            ticket_id      TEXT PRIMARY KEY,
            serial_number  TEXT NOT NULL REFERENCES installations(serial_number),
            opened_date    TEXT NOT NULL,
            error_code     TEXT NOT NULL,
            resolution     TEXT NOT NULL,
            parts_used     TEXT,
            technician     TEXT NOT NULL,
            hours_on_site  REAL
        );
        """
    )
    con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?)", CUSTOMERS)
    con.executemany("INSERT INTO installations VALUES (?,?,?,?,?,?,?)", INSTALLATIONS)
    con.executemany("INSERT INTO service_tickets VALUES (?,?,?,?,?,?,?,?)", TICKETS)
    con.commit()
    con.close()


# --------------------------------------------------------------------------
def main() -> None:
    build_pdf("kf-series-service-manual.txt", DATA / "manuals" / "kf-series-service-manual.pdf", "KF-MAN-KF", cover_page=True)
    build_pdf("dx-series-datasheet.txt", DATA / "manuals" / "dx-series-datasheet.pdf", "KF-DS-DX", cover_page=False)
    for name in (
        "kf340-mechanical-seal-replacement",
        "commissioning-checklist-blue-flush",
        "returns-rma-procedure",
        "dx-diaphragm-replacement",
    ):
        build_docx(f"{name}.txt", DATA / "procedures" / f"{name}.docx")
    build_xlsx(DATA / "tables" / "pump_specs.xlsx")
    build_db(DATA / "db" / "kestrel.db")
    print("built:", ", ".join(str(p.relative_to(HERE)) for p in sorted(DATA.rglob("*")) if p.suffix in {".pdf", ".docx", ".xlsx", ".db"}))


if __name__ == "__main__":
    main()
