"""SMS: the text-message provider the mall's phone login sends its codes through (client.py)."""
