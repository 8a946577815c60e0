from tests.typing.tasks_defined import add

calls = [add.prepare("one")]
