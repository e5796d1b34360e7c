"""Error messages: caret rendering, columns and did-you-mean hints."""

from __future__ import annotations

import pickle

import pytest

from compiler.expressions import (
    FUNCTIONS,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    evaluate,
    parse,
    render,
)


def syntax_error(expression: str) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse(expression)
    return info.value


def test_caret_sits_under_the_offending_token() -> None:
    error = syntax_error("tasks.a.x == )")
    assert error.column == 13
    assert error.expression == "tasks.a.x == )"
    assert str(error) == (
        "unexpected token ')' at column 13 (expected a value)\n  tasks.a.x == )\n               ^"
    )


@pytest.mark.parametrize(
    ("expression", "column"),
    [
        ("1 +", 3),
        ("(1", 2),
        ("1 2", 2),
        ("a.b.", 4),
        ("'open", 0),
        ('x == "y"', 5),
        ("a = 1", 2),
        ("len(1, 2)", 0),
        ("lenn(1)", 0),
        ("  foo(1)", 2),
        ("a ? b", 5),
        ("a[1", 3),
        ("1 # 2", 2),
    ],
)
def test_syntax_error_columns(expression: str, column: int) -> None:
    error = syntax_error(expression)
    assert error.column == column
    caret_line = str(error).splitlines()[-1]
    assert caret_line == "  " + " " * column + "^"


def test_every_syntax_error_has_a_column() -> None:
    for expression in ["(", ")", "1 +", "'x", '"x"', "a..b", "f(", "[", "1abc", "unknown()"]:
        assert syntax_error(expression).column is not None


def test_double_quotes_hint_single_quotes() -> None:
    assert "single quotes" in syntax_error('a == "b"').message


def test_unknown_context_suggests_the_closest_name() -> None:
    context = {"tasks": {}, "workflow": {}, "item": 1}
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate("taks.summarize.outputs", context)
    error = info.value
    assert error.message == "unknown context 'taks'; available: item, tasks, workflow (did you mean 'tasks'?)"
    assert error.column == 0
    assert str(error).splitlines() == [error.message, "  taks.summarize.outputs", "  ^"]


def test_unknown_context_without_a_close_match_lists_the_names() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate("1 + zzz", {"tasks": {}})
    assert info.value.message == "unknown context 'zzz'; available: tasks"
    assert info.value.column == 4


def test_unknown_function_suggests_and_lists() -> None:
    error = syntax_error("startswith('a', 'b') && lenght(x)")
    assert error.column == 24
    assert "did you mean 'len'?" in error.message
    for name in FUNCTIONS:
        assert name in error.message


def test_unknown_function_with_case_typo() -> None:
    assert "did you mean 'toJSON'?" in syntax_error("toJSN(1)").message


def test_arity_error_names_the_function_and_counts() -> None:
    error = syntax_error("1 + round()")
    assert error.message == "function round() takes 1 to 2 arguments, got 0 at column 4"
    assert error.column == 4


def test_evaluation_errors_point_at_the_operator_or_call() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate("1 + 2 / 0", {})
    assert info.value.column == 6
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate("'x' + fromJSON('{')", {})
    assert info.value.column == 6
    assert info.value.expression == "'x' + fromJSON('{')"


def test_errors_from_a_tree_quote_the_parsed_source() -> None:
    node = parse("tasks.a   +   1")
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate(node, {"tasks": {"a": None}})
    assert info.value.expression == "tasks.a   +   1"
    assert info.value.column == 10


def test_render_errors_quote_the_inner_expression() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        render("Hello ${{ taks.a }}!", {"tasks": {}})
    assert info.value.expression == "taks.a"
    assert info.value.column == 0


def test_unterminated_span_points_at_its_start() -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        render("ok ${{ 'a }} ${{ b }}", {})
    assert info.value.column == 3


def test_hierarchy() -> None:
    for cls in (ExpressionSyntaxError, ExpressionEvaluationError, ExpressionLimitError):
        assert issubclass(cls, ExpressionError)
    assert issubclass(ExpressionError, Exception)


def test_long_expressions_show_a_window_around_the_caret() -> None:
    expression = "a" * 5000 + " )"
    error = syntax_error(expression)
    lines = str(error).splitlines()
    assert len(lines[1]) < 300
    caret = lines[2].index("^")
    assert lines[1][caret] == ")"


def test_limit_error_message_names_the_limit() -> None:
    with pytest.raises(ExpressionLimitError) as info:
        parse("1" * 21_001)
    assert "MAX_EXPRESSION_LENGTH=21000" in info.value.message
    assert info.value.column is None
    assert str(info.value).count("\n") == 1  # no caret without a column


def test_newlines_do_not_break_the_caret() -> None:
    error = syntax_error("a &&\n  )")
    lines = str(error).splitlines()
    assert lines[1] == "  a &&   )"
    assert lines[2].index("^") == lines[1].index(")")


def test_errors_pickle_with_their_attributes() -> None:
    error = syntax_error("1 +")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is ExpressionSyntaxError
    assert (clone.message, clone.expression, clone.column) == (error.message, error.expression, error.column)
