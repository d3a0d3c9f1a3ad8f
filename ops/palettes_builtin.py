"""Built-in retro palettes, typed from their published definitions (sources in the comments)."""

from __future__ import annotations

# name -> hex colours, in the order their authors publish them.
BUILTIN_HEX: dict[str, tuple[str, ...]] = {
    # PICO-8 fantasy console, 16 colours: https://pico-8.fandom.com/wiki/Palette
    "pico-8": (
        "000000", "1D2B53", "7E2553", "008751", "AB5236", "5F574F", "C2C3C7", "FFF1E8",
        "FF004D", "FFA300", "FFEC27", "00E436", "29ADFF", "83769C", "FF77A8", "FFCCAA",
    ),
    # Nintendo Entertainment System, 55 colours: https://lospec.com/palette-list/nintendo-entertainment-system
    "nes": (
        "000000", "FCFCFC", "F8F8F8", "BCBCBC", "7C7C7C", "A4E4FC", "3CBCFC", "0078F8", "0000FC", "B8B8F8",
        "6888FC", "0058F8", "0000BC", "D8B8F8", "9878F8", "6844FC", "4428BC", "F8B8F8", "F878F8", "D800CC",
        "940084", "F8A4C0", "F85898", "E40058", "A80020", "F0D0B0", "F87858", "F83800", "A81000", "FCE0A8",
        "FCA044", "E45C10", "881400", "F8D878", "F8B800", "AC7C00", "503000", "D8F878", "B8F818", "00B800",
        "007800", "B8F8B8", "58D854", "00A800", "006800", "B8F8D8", "58F898", "00A844", "005800", "00FCFC",
        "00E8D8", "008888", "004058", "F8D8F8", "787878",
    ),
    # Original Game Boy (DMG) greens, 4 colours: https://lospec.com/palette-list/nintendo-gameboy-bgb
    "game-boy": ("0F380F", "306230", "8BAC0F", "9BBC0F"),
    # DawnBringer 16: https://lospec.com/palette-list/dawnbringer-16
    "db16": (
        "140C1C", "442434", "30346D", "4E4A4E", "854C30", "346524", "D04648", "757161",
        "597DCE", "D27D2C", "8595A1", "6DAA2C", "D2AA99", "6DC2CA", "DAD45E", "DEEED6",
    ),
    # DawnBringer 32: https://lospec.com/palette-list/dawnbringer-32
    "db32": (
        "000000", "222034", "45283C", "663931", "8F563B", "DF7126", "D9A066", "EEC39A",
        "FBF236", "99E550", "6ABE30", "37946E", "4B692F", "524B24", "323C39", "3F3F74",
        "306082", "5B6EE1", "639BFF", "5FCDE4", "CBDBFC", "FFFFFF", "9BADB7", "847E87",
        "696A6A", "595652", "76428A", "AC3232", "D95763", "D77BBA", "8F974A", "8A6F30",
    ),
    # Endesga 32: https://lospec.com/palette-list/endesga-32
    "endesga-32": (
        "BE4A2F", "D77643", "EAD4AA", "E4A672", "B86F50", "733E39", "3E2731", "A22633",
        "E43B44", "F77622", "FEAE34", "FEE761", "63C74D", "3E8948", "265C42", "193C3E",
        "124E89", "0099DB", "2CE8F5", "FFFFFF", "C0CBDC", "8B9BB4", "5A6988", "3A4466",
        "262B44", "181425", "FF0044", "68386C", "B55088", "F6757A", "E8B796", "C28569",
    ),
    # AAP-64 by Adigun A. Polack: https://lospec.com/palette-list/aap-64
    "aap-64": (
        "060608", "141013", "3B1725", "73172D", "B4202A", "DF3E23", "FA6A0A", "F9A31B",
        "FFD541", "FFFC40", "D6F264", "9CDB43", "59C135", "14A02E", "1A7A3E", "24523B",
        "122020", "143464", "285CC4", "249FDE", "20D6C7", "A6FCDB", "FFFFFF", "FEF3C0",
        "FAD6B8", "F5A097", "E86A73", "BC4A9B", "793A80", "403353", "242234", "221C1A",
        "322B28", "71413B", "BB7547", "DBA463", "F4D29C", "DAE0EA", "B3B9D1", "8B93AF",
        "6D758D", "4A5462", "333941", "422433", "5B3138", "8E5252", "BA756A", "E9B5A3",
        "E3E6FF", "B9BFFB", "849BE4", "588DBE", "477D85", "23674E", "328464", "5DAF8D",
        "92DCBA", "CDF7E2", "E4D2AA", "C7B08B", "A08662", "796755", "5A4E44", "423934",
    ),
    # Sweetie 16 by GrafxKid: https://lospec.com/palette-list/sweetie-16
    "sweetie-16": (
        "1A1C2C", "5D275D", "B13E53", "EF7D57", "FFCD75", "A7F070", "38B764", "257179",
        "29366F", "3B5DC9", "41A6F6", "73EFF7", "F4F4F4", "94B0C2", "566C86", "333C57",
    ),
    # Commodore 64 (VICE default): https://lospec.com/palette-list/commodore64
    "c64": (
        "000000", "FFFFFF", "880000", "AAFFEE", "CC44CC", "00CC55", "0000AA", "EEEE77",
        "DD8855", "664400", "FF7777", "333333", "777777", "AAFF66", "0088FF", "BBBBBB",
    ),
    # IBM CGA full 16-colour RGBI set (brown as on real monitors): https://en.wikipedia.org/wiki/Color_Graphics_Adapter
    "cga": (
        "000000", "0000AA", "00AA00", "00AAAA", "AA0000", "AA00AA", "AA5500", "AAAAAA",
        "555555", "5555FF", "55FF55", "55FFFF", "FF5555", "FF55FF", "FFFF55", "FFFFFF",
    ),
}
