"""What the sandbox catalogue is made of: categories, brands, Romanian words and eMAG's status texts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

VALIDATION_STATUS_DESCRIPTIONS = {
    0: "Draft",
    1: "In MKTP validation",
    2: "Awaiting Brand validation",
    3: "Awaiting EAN validation",
    4: "New Documentation validation pending",
    5: "Brand rejected",
    6: "EAN rejected",
    8: "Documentation rejected",
    9: "Approved documentation",
    10: "Blocked",
    11: "Documentation update validation pending",
    12: "Update rejected",
}
VALIDATION_STATUS_ERRORS = {
    5: ["Brand not allowed for this category."],
    6: ["EAN already associated with another product."],
    8: ["Main image has a watermark.", "Description is too short."],
    10: ["Product blocked by eMAG."],
    12: ["Updated name contains promotional text."],
}
SELLABLE_VALIDATION_STATUSES = frozenset({3, 9, 11, 12})
OFFER_VALIDATION_DESCRIPTIONS = {1: "Saleable", 2: "Invalid price"}

# VAT ids as vat/read answers them (Romania since August 2025).
VAT_RATES = {1: Decimal("0.21"), 2: Decimal("0.11"), 3: Decimal("0.00")}
HANDLING_TIMES = (0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 21, 30)
CURRENCY = "RON"
UNIT = 10_000  # prices are kept in ten-thousandths of a RON
MAX_OFFER_ID = 16_777_215


@dataclass(frozen=True)
class Characteristic:
    id: int
    name: str
    values: tuple[str, ...]
    is_mandatory: int = 0


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    parent_id: int | None
    sku_prefix: str
    nouns: tuple[str, ...]
    spec: Characteristic
    gross_prices: tuple[int, int]  # retail price range with VAT, in RON
    vat_id: int = 1
    warranty: tuple[int, ...] = (24,)
    is_ean_mandatory: int = 1
    is_warranty_mandatory: int = 1
    family_type_id: int | None = None
    benefit: str = ""


COLOR = Characteristic(6861, "Culoare", ("Alb", "Negru", "Gri", "Roșu", "Albastru", "Verde", "Bej", "Argintiu", "Roz"))

CATEGORIES: tuple[Category, ...] = (
    Category(
        3514,
        "Lămpi de birou",
        3500,
        "LMP",
        ("Lampă de birou LED", "Veioză cu abajur", "Lampă cu clemă", "Lampă de birou cu braț flexibil"),
        Characteristic(5401, "Putere", ("5 W", "7 W", "8 W", "10 W", "12 W"), 1),
        (59, 349),
        benefit="Lumină caldă, reglabilă în trei trepte, potrivită pentru citit și lucru.",
    ),
    Category(
        2711,
        "Fierbătoare",
        2700,
        "FRB",
        ("Fierbător electric", "Fierbător din sticlă", "Fierbător inox"),
        Characteristic(5780, "Capacitate", ("1 L", "1,5 L", "1,7 L", "2 L"), 1),
        (79, 429),
        benefit="Oprire automată la fierbere și protecție la funcționarea fără apă.",
    ),
    Category(
        1907,
        "Pantofi sport bărbați",
        1900,
        "PSB",
        ("Pantofi sport", "Adidași de alergare", "Încălțăminte sport", "Ghete de drumeție"),
        Characteristic(6506, "Mărime", ("39 EU", "40 EU", "41 EU", "42 EU", "43 EU", "44 EU", "45 EU", "46 EU"), 1),
        (149, 699),
        warranty=(24,),
        is_ean_mandatory=0,
        family_type_id=95,
        benefit="Talpă din spumă cu amortizare și căptușeală respirabilă.",
    ),
    Category(
        2044,
        "Tricouri damă",
        2000,
        "TRD",
        ("Tricou din bumbac", "Tricou cu imprimeu", "Tricou sport", "Bluză cu mânecă scurtă"),
        Characteristic(6507, "Mărime", ("XS", "S", "M", "L", "XL", "XXL"), 1),
        (39, 159),
        is_ean_mandatory=0,
        is_warranty_mandatory=0,
        warranty=(0,),
        family_type_id=96,
        benefit="Bumbac 100%, croială dreaptă, se spală la 30 de grade.",
    ),
    Category(
        3120,
        "Vase de gătit",
        3100,
        "VSG",
        ("Cratiță cu capac", "Oală din inox", "Tigaie antiaderentă", "Tigaie din fontă", "Wok"),
        Characteristic(5902, "Diametru", ("20 cm", "24 cm", "26 cm", "28 cm", "32 cm"), 1),
        (69, 549),
        benefit="Compatibil cu plite pe inducție, se poate spăla în mașina de vase.",
    ),
    Category(
        1280,
        "Aspiratoare",
        1200,
        "ASP",
        ("Aspirator fără sac", "Aspirator vertical", "Aspirator de mână", "Aspirator robot"),
        Characteristic(5401, "Putere", ("600 W", "700 W", "800 W", "900 W"), 1),
        (299, 2499),
        warranty=(24, 36),
        benefit="Filtru HEPA lavabil și perie pentru păr de animale.",
    ),
    Category(
        1593,
        "Căști audio",
        1500,
        "CST",
        ("Căști wireless", "Căști in-ear", "Căști cu microfon", "Căști over-ear cu anulare de zgomot"),
        Characteristic(7120, "Conectivitate", ("Bluetooth 5.0", "Bluetooth 5.3", "Jack 3,5 mm", "USB-C"), 1),
        (49, 1299),
        benefit="Autonomie de până la 30 de ore și încărcare rapidă.",
    ),
    Category(
        2856,
        "Jucării de construcție",
        2800,
        "JCN",
        ("Set de construcție", "Puzzle 3D", "Set de cuburi magnetice", "Macheta de asamblat"),
        Characteristic(7340, "Număr piese", ("150 piese", "300 piese", "500 piese", "1000 piese", "1200 piese"), 1),
        (49, 899),
        warranty=(0, 24),
        benefit="Recomandat copiilor de peste 6 ani; piesele sunt compatibile cu seturile clasice.",
    ),
    Category(
        3401,
        "Scule electrice",
        3400,
        "SCE",
        ("Bormașină cu percuție", "Șurubelniță cu acumulator", "Polizor unghiular", "Fierăstrău pendular"),
        Characteristic(7501, "Tensiune", ("12 V", "18 V", "20 V", "230 V"), 1),
        (149, 1899),
        warranty=(24, 36),
        benefit="Mandrină rapidă, două viteze și lumină LED de lucru.",
    ),
    Category(
        4102,
        "Îngrijirea părului",
        4100,
        "PAR",
        ("Șampon hidratant", "Balsam de păr", "Mască de păr", "Ulei pentru păr"),
        Characteristic(7702, "Cantitate", ("200 ml", "250 ml", "400 ml", "500 ml"), 1),
        (19, 129),
        is_warranty_mandatory=0,
        warranty=(0,),
        benefit="Fără sulfați și parabeni, potrivit pentru utilizare zilnică.",
    ),
    Category(
        4510,
        "Cafea",
        4500,
        "CAF",
        ("Cafea boabe", "Cafea măcinată", "Capsule cafea", "Cafea solubilă"),
        Characteristic(7810, "Gramaj", ("250 g", "500 g", "1 kg"), 1),
        (25, 189),
        vat_id=2,
        is_warranty_mandatory=0,
        warranty=(0,),
        benefit="Prăjire medie, note de ciocolată și alune.",
    ),
    Category(
        2290,
        "Lenjerii de pat",
        2200,
        "LNJ",
        ("Lenjerie de pat din bumbac satinat", "Lenjerie de pat din finet", "Cuvertură matlasată"),
        Characteristic(6120, "Dimensiune", ("1 persoană", "2 persoane", "200 x 220 cm"), 1),
        (99, 459),
        warranty=(0, 24),
        benefit="Set complet cu cearșaf, plapumă și fețe de pernă, culori rezistente la spălare.",
    ),
    Category(
        1745,
        "Genți și rucsacuri laptop",
        1700,
        "GNT",
        ("Rucsac laptop", "Geantă laptop", "Husă laptop", "Rucsac antifurt"),
        Characteristic(7015, "Dimensiune laptop", ("13,3 inch", "14 inch", "15,6 inch", "17,3 inch"), 1),
        (69, 449),
        benefit="Compartiment căptușit și port USB pentru încărcare din mers.",
    ),
    Category(
        5210,
        "Grădină",
        5200,
        "GRD",
        ("Furtun de grădină", "Stropitoare", "Foarfecă de grădină", "Set unelte de grădinărit"),
        Characteristic(8001, "Lungime", ("15 m", "20 m", "25 m", "30 m", "50 m"), 0),
        (29, 399),
        benefit="Materiale rezistente la UV și la îngheț.",
    ),
)
CATEGORY_BY_ID = {c.id: c for c in CATEGORIES}

BRANDS = (
    "Heinner",
    "Star-Light",
    "Albalux",
    "Arctic",
    "Samus",
    "Utilis",
    "Casa Ardeleană",
    "Bucegi Outdoor",
    "Țesătoria Mureș",
    "Ștefănescu & Fiii",
    "Făgăraș Sport",
    "Dâmbovița Tools",
    "Carpați",
    "Cetățuia",
    "Olt Design",
    "Măgura Home",
    "Vâlcea Line",
    "Prahova Pro",
)
MODEL_LETTERS = "ABCDEFGHKLMNPRSTVXZ"
PNK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
