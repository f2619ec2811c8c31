"""Passwords never reach the terminal: every URL password in a printed text is masked, nothing else changes."""

from weightsearch.redact import without_password


def test_url_passwords_are_masked_wherever_they_sit_in_a_text():
    assert without_password("https://u:p%40ss@mlflow:5000/x") == "https://u:***@mlflow:5000/x"
    assert without_password("--a=mysql://u:p@ss:w@db/x --b=http://v:q@h:1/") == "--a=mysql://u:***@db/x --b=http://v:***@h:1/"


def test_texts_without_a_url_password_are_left_alone():
    for text in ("sqlite:////tmp/x.db", "postgresql://user@host/db", "http://h:8265", "a:b@c", "weightsearch run ./x.yaml"):
        assert without_password(text) == text
