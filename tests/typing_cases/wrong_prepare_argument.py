from tests.typing_cases.tasks_defined import add

calls = [add.prepare("one")]
