"""Small developer tools about the code itself (`python -m dmvpn.tools.imports`: import cycles)."""
