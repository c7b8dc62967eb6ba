import jinja2
import pytest
from lockstep.pages import document
from markupsafe import Markup

PAGE = """{% extends "base.html.j2" %}
{% block title %}A page{% endblock %}
{% block content %}<p>{{ text }}</p>{{ chart }}{% endblock %}
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "page.html.j2").write_text(PAGE)
    return tmp_path


def test_a_page_extends_the_skeleton_with_its_css_inline(folder):
    html = document.render(folder, "page.html.j2", text="hello", chart=Markup("<svg></svg>"))
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>A page</title>" in html and "<h1>A page</h1>" in html
    assert "font-variant-numeric" in html  # page.css, inline
    assert "<p>hello</p><svg></svg>" in html
    assert html.endswith("</html>\n")


def test_the_page_may_load_nothing_from_anywhere(folder):
    html = document.render(folder, "page.html.j2", text="", chart="")
    assert "default-src 'none'" in html
    assert "<link" not in html and "<script" not in html


def test_values_are_escaped_and_only_markup_goes_in_as_is(folder):
    html = document.render(folder, "page.html.j2", text="<b>&</b>", chart="<svg>")
    assert "<p>&lt;b&gt;&amp;&lt;/b&gt;</p>&lt;svg&gt;" in html


def test_an_undefined_name_is_an_error(folder):
    with pytest.raises(jinja2.UndefinedError):
        document.render(folder, "page.html.j2", text="x")
