"""The conformance cases: one module per clause group, named by the case IDs' prefix.

A case's file follows from its ID: the prefix before the dash picks the module in `MODULES`
(REG-07 -> registration.py, RES-12 -> resolution.py), whatever the DUT's role (`role=` in `@case`
says whether the DUT is the hub or the spoke). Private helpers live in `_hub.py` (the DUT as hub)
and `_nhc.py` (the DUT as spoke). tests/conformance/test_case_modules.py checks the rule.
"""

#: case ID prefix -> the module of suites/conformance holding every case with that prefix
MODULES = {
    "ENC": "encapsulation",
    "ERR": "errors",
    "ESP": "esp",
    "HDR": "header",
    "NAT": "nat",
    "NHC": "nhc",
    "P3": "phase3",
    "PUR": "purge",
    "REG": "registration",
    "RES": "resolution",
    "V6": "ipv6",
}


def module_for(case_id: str) -> str:
    """The module (dotted name) that must hold the case with this ID."""
    return f"{__name__}.{MODULES[case_id.split('-')[0]]}"
