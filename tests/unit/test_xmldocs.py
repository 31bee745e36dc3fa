"""The image keeps the XML documentation of what a node can load, and what that includes."""

from pathlib import Path

from lab.asterisk import node, xmldocs

DOCS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE docs SYSTEM "appdocsxml.dtd">
<docs xmlns:xi="http://www.w3.org/2001/XInclude">
<module language="en_US" name="pbx_dundi"><support_level>extended</support_level></module>
<module language="en_US" name="chan_dahdi"><support_level>core</support_level></module>
<function name="DUNDILOOKUP" language="en_US" module="pbx_dundi"><synopsis>x</synopsis>
  <xi:include xpointer="xpointer(/docs/configInfo[@name='res_pjsip']/synopsis)" /></function>
<application name="DAHDIScan" language="en_US" module="chan_dahdi"><synopsis/>
</application>
<manager name="Login" language="en_US" module="builtin"><syntax>
  <parameter name="ActionID"><para>id</para></parameter></syntax></manager>
<manager name="DBGet" language="en_US" module="builtin"><syntax>
  <xi:include
    xpointer="xpointer(/docs/manager[@name='Login']/syntax/parameter[@name='ActionID'])" />
</syntax></manager>
<managerEvent name="ChanEvent" language="en_US" module="chan_dahdi"><x/></managerEvent>
<manager name="DAHDIShowChannels" language="en_US" module="chan_dahdi"><syntax>
  <xi:include xpointer="xpointer(/docs/managerEvent[@name='ChanEvent']/x)" />
</syntax></manager>
<configInfo name="stasis" language="en_US"><synopsis>core</synopsis></configInfo>
<configInfo name="res_pjsip" language="en_US"><synopsis>not loaded</synopsis></configInfo>
<configInfo name="res_pjsip_acl" language="en_US"><synopsis>not loaded</synopsis></configInfo>
<agi name="ANSWER" language="en_US"><synopsis>core, no module</synopsis></agi>
</docs>
"""


def _names(path: Path) -> set[str]:
    import xml.etree.ElementTree as ET

    return {f"{e.tag}:{e.get('name')}" for e in ET.parse(path).getroot()}


def test_keeps_core_loaded_modules_and_what_they_include(tmp_path: Path) -> None:
    path = tmp_path / "core-en_US.xml"
    path.write_text(DOCS, encoding="utf-8")

    before, kept = xmldocs.slim(path, frozenset({"pbx_dundi"}))

    assert _names(path) == {
        "module:pbx_dundi",
        "function:DUNDILOOKUP",
        "manager:Login",
        "manager:DBGet",
        "configInfo:stasis",
        "configInfo:res_pjsip",  # DUNDILOOKUP includes a part of it
        "agi:ANSWER",
    }
    assert (before, kept) == (12, 7)
    text = path.read_text(encoding="utf-8")
    assert "<xi:include" in text and 'xmlns:xi="http://www.w3.org/2001/XInclude"' in text


def test_an_included_entry_of_a_dropped_module_goes_with_it(tmp_path: Path) -> None:
    path = tmp_path / "core-en_US.xml"
    path.write_text(DOCS, encoding="utf-8")

    xmldocs.slim(path, frozenset({"chan_dahdi"}))

    assert {"manager:DAHDIShowChannels", "managerEvent:ChanEvent"} <= _names(path)


def test_main_takes_module_file_names_and_skips_images_without_docs(tmp_path: Path) -> None:
    assert xmldocs.main([str(tmp_path), *node.MODULES]) == 0  # no documentation: no-op
    path = tmp_path / xmldocs.DOCS
    path.parent.mkdir(parents=True)
    path.write_text(DOCS, encoding="utf-8")

    assert xmldocs.main([str(tmp_path), *node.MODULES]) == 0

    assert "function:DUNDILOOKUP" in _names(path)
    assert "application:DAHDIScan" not in _names(path)
