"""Every check() says what it got, not only what it wanted.

The test modules are loaded through load(): each check(COND, WHAT) is
rewritten (as pytest rewrites assert) so that the operands of every
comparison and the value of every call in COND — inside wait_for's lambda
too, where the last poll's values are kept — are recorded as COND is
evaluated, and handed to check(), which prints them when COND is false.
COND is evaluated exactly as written: once, in order, short-circuits kept;
each recorder returns the value it was given.
"""
import ast
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
VAR = "_got_"


def _rec(got, src, value):
    got[src] = value
    return value


def short(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "…(%d chars)" % len(s)


class _Wrap(ast.NodeTransformer):
    def __init__(self, src):
        self.src = src

    def _rec(self, node):
        text = ast.get_source_segment(self.src, node) or ast.unparse(node)
        new = ast.Call(func=ast.Name("_rec", ast.Load()),
                       args=[ast.Name(VAR, ast.Load()), ast.Constant(" ".join(text.split())), node],
                       keywords=[])
        return ast.copy_location(new, node)

    def visit_Compare(self, node):
        self.generic_visit(node)
        node.left = node.left if isinstance(node.left, ast.Constant) else self._rec(node.left)
        node.comparators = [c if isinstance(c, ast.Constant) else self._rec(c)
                            for c in node.comparators]
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        return self._rec(node)


class _Checks(ast.NodeTransformer):
    def __init__(self, src):
        self.src = src

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "check" and node.args:
            cond = _Wrap(self.src).visit(node.args[0])
            if isinstance(cond, ast.Name):  # check(ok, …): the name is the value
                cond = _Wrap(self.src)._rec(cond)
            start = ast.Compare(left=ast.NamedExpr(ast.Name(VAR, ast.Store()), ast.Dict([], [])),
                                ops=[ast.IsNot()], comparators=[ast.Constant(None)])
            node.args[0] = ast.copy_location(ast.BoolOp(ast.And(), [start, cond]), cond)
            node.keywords.append(ast.keyword("got", ast.Name(VAR, ast.Load())))
        return node


def load(name):
    """Import tests/integration/NAME.py with its check() calls explained."""
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(HERE, name + ".py")
    src = open(path, encoding="utf-8").read()
    tree = ast.fix_missing_locations(_Checks(src).visit(ast.parse(src, path)))
    mod = types.ModuleType(name)
    mod.__file__ = path
    mod._rec = _rec
    sys.modules[name] = mod
    exec(compile(tree, path, "exec"), mod.__dict__)
    return mod
